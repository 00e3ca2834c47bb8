// An image's config as the defaults of a container created from it.
import type { ImageRecord } from "./image-store.js";

/** Env entries by key, later ones winning (config env over image env, as Podman merges). */
function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) out.set(e.slice(0, Math.max(e.indexOf("="), 0)) || e, e);
  return [...out.values()];
}

/** The image's config as defaults for a container's: Podman's rules. */
export function applyImageDefaults<C extends { command: string[]; env: string[]; workingDir: string; user: string }>(config: C, img: ImageRecord): C {
  return {
    ...config,
    // Podman: the entrypoint always runs; a given command replaces only cmd.
    command: [...img.entrypoint, ...(config.command.length > 0 ? config.command : img.cmd)],
    env: mergeEnv(img.env, config.env),
    workingDir: config.workingDir || img.workingDir,
    user: config.user || img.user,
  };
}
