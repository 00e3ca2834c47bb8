// CreateContainer's checks live in src/validation/; this is the name the
// lifecycle code (create.ts) calls them by.
import type { ContainerConfig } from "../gen/hull/v1/container.js";
import { validateConfigOnHost } from "./container-config.js";
import { checkMountSources, checkSecurity } from "./spec-rules.js";

/**
 * The final config's shape and the host paths it names (src/validation/container-config.ts),
 * then the spec-shaping parts against the host (src/oci/validate.ts): no bind
 * source inside `hulldDirs` (hulld's root and run root), a seccomp profile
 * file that parses.
 */
export async function validateConfig(config: ContainerConfig, hulldDirs: readonly string[] = []): Promise<void> {
  await validateConfigOnHost(config);
  await checkMountSources(config.mounts, hulldDirs, "config");
  await checkSecurity(config.security, "config");
}
