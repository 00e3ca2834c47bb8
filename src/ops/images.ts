// One ImageStore per engine, opened on first use: the daemon's wiring stays
// untouched, and the container side (create, remove) finds the same store
// the ImageService uses. Image events go into the engine's event history and
// bus, beside the container events.
import { Event } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { ImageStore, type ImageRecord } from "../images/image-store.js";

export type ImageEventType = "image_import" | "image_pull" | "image_tag" | "image_remove";

/**
 * Appends an image event (container_id empty, image_id set) to the stored
 * history and publishes it. Never fails the operation it reports.
 */
export async function imageEvent(engine: Engine, type: ImageEventType, imageId: string, attributes: Record<string, string> = {}): Promise<void> {
  try {
    const stored = await engine.store.appendEvent(Event.fromPartial({ time: new Date(), type, imageId, attributes }));
    engine.bus.publishEvent(stored);
  } catch (err) {
    // The operation itself succeeded; losing one history entry is logged, not hidden.
    engine.deps.log.error({ err, image: imageId, type }, "could not store image event");
  }
}

const stores = new WeakMap<Engine, Promise<ImageStore>>();

export function imageStoreOf(engine: Engine): Promise<ImageStore> {
  let p = stores.get(engine);
  if (!p) {
    p = ImageStore.open(engine.deps.paths.root, engine.store, engine.deps.log).then((store) => {
      store.onTagsRemoved = (change) => {
        for (const tag of change.removed) void imageEvent(engine, "image_tag", change.imageId, { reference: tag, name: tag, action: "untag", tags: change.tags.join(",") });
      };
      return store;
    });
    // A failed open is retried on the next call instead of being cached.
    p.catch(() => stores.delete(engine));
    stores.set(engine, p);
  }
  return p;
}

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
