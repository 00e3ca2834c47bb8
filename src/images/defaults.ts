// An image's config as the defaults of a container created from it.
import type { ImageRecord } from "./image-store.js";

/** Env entries by key, later ones winning (config env over image env, as Podman merges). */
function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) out.set(e.slice(0, Math.max(e.indexOf("="), 0)) || e, e);
  return [...out.values()];
}

/**
 * The image's config as defaults for a container's: Podman's and Docker's
 * rules. The image's entrypoint runs and a given command replaces only its
 * cmd; an entrypoint given replaces the image's and drops its cmd too (the
 * Kubernetes command/args rules).
 */
export function applyImageDefaults<C extends { command: string[]; env: string[]; workingDir: string; user: string; entrypoint?: { args: string[] } }>(
  config: C,
  img: ImageRecord,
): C {
  const command = config.entrypoint
    ? [...config.entrypoint.args, ...config.command]
    : [...img.entrypoint, ...(config.command.length > 0 ? config.command : img.cmd)];
  const out: C = {
    ...config,
    command,
    env: mergeEnv(img.env, config.env),
    workingDir: config.workingDir || img.workingDir,
    user: config.user || img.user,
  };
  // Folded into command: the stored config says what runs, once.
  delete out.entrypoint;
  return out;
}
