// The seam between "a container's root filesystem" and where it comes from.
// Today a container names a host directory (config.rootfs_path): it is always
// there, so mounting returns it and unmounting leaves it alone. An image
// container's rootfs is an overlay mount (image layers + a per-container upper
// and work dir) that exists only while someone needs it: the runtime (from
// init until cleanup), MountContainer's count, or an export in progress.
//
// Callers hold the container's lock. Both functions must be idempotent:
// mountRootfs may be called while the rootfs is already mounted (return the
// same path), unmountRootfs whenever a user may have let go (it unmounts only
// when nothing holds the rootfs any more).
import { HullError, wrapError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { hasRuntimeContainer } from "../statemachine/states.js";
import type { ContainerRecord } from "../store/record.js";
import { isMounted, mountImageRootfs, overlayDirs, unmountImageRootfs } from "../images/overlay.js";
import { imageVolumesMounted, mountImageVolumes, unmountImageVolumes } from "../images/image-volumes.js";

/** Exports (withRootfs calls) reading the container's rootfs right now; a removal should wait or refuse while > 0. */
export function exportsReading(engine: Engine, id: string): number {
  return engine.rootfsReaders.get(id) ?? 0;
}

/** Whether anything still needs the container's rootfs mounted. */
export function rootfsInUse(engine: Engine, rec: ContainerRecord): boolean {
  return rec.mountCount > 0 || hasRuntimeContainer(rec.state) || (engine.rootfsReaders.get(rec.id) ?? 0) > 0;
}

/** Makes the container's root filesystem available on the host; returns its path. */
export async function mountRootfs(engine: Engine, rec: ContainerRecord): Promise<string> {
  // An exit's release of the rootfs runs after the lock (cleanup.ts): it must not follow this mount.
  await engine.teardowns.settle(rec.id);
  // Its image volumes go up with it, whatever the rootfs is: the runtime binds them at init.
  await mountImageVolumes(engine.images, engine.containerDir(rec.id), rec);
  if (rec.config.rootfsPath !== "") return rec.config.rootfsPath;
  // An image container: its overlay (image layers + upper dir), mounted once.
  return mountImageRootfs(engine.images, engine.containerDir(rec.id), rec);
}

/** Releases the container's root filesystem if nothing holds it any more. */
export async function unmountRootfs(engine: Engine, rec: ContainerRecord): Promise<void> {
  if (rootfsInUse(engine, rec)) return;
  await unmountImageVolumes(engine.containerDir(rec.id), rec);
  // A host directory is the user's: never unmounted or removed by hull.
  if (rec.config.rootfsPath !== "") return;
  // The upper dir stays: it is the container's changes.
  await unmountImageRootfs(engine.containerDir(rec.id), rec);
}

/**
 * The release an exit leaves to the teardowns: by then the lock is gone, so
 * what holds the rootfs is read from the record as now saved. A removed
 * record's mounts went with it (remove.ts); a mount since then waited for
 * this (mountRootfs settles first), so nothing can take the rootfs between
 * the look and the unmount.
 */
export async function releaseRootfsAfterExit(engine: Engine, id: string): Promise<void> {
  const latest = await engine.store.getContainer(id);
  if (latest === undefined) return;
  await unmountRootfs(engine, latest);
}

/** Whether hull has something of the container's mounted on the host: its rootfs overlay or an image volume. */
export async function rootfsMounted(engine: Engine, rec: ContainerRecord): Promise<boolean> {
  const dir = engine.containerDir(rec.id);
  if (await imageVolumesMounted(dir, rec)) return true;
  return rec.imageId !== undefined && (await isMounted(overlayDirs(dir).merged));
}

/**
 * Runs fn with the rootfs mounted and held, without the container's lock
 * (an export may take minutes); mounts and releases under the lock.
 */
export async function withRootfs<T>(
  engine: Engine,
  ref: string,
  operation: string,
  check: (rec: ContainerRecord) => void,
  fn: (path: string, rec: ContainerRecord) => Promise<T>,
): Promise<T> {
  const id = await engine.resolve(ref);
  const m = engine.rootfsReaders;
  const { path, rec } = await engine.withLock(id, operation, async (r) => {
    check(r);
    const p = await mountRootfs(engine, r);
    m.set(id, (m.get(id) ?? 0) + 1);
    return { path: p, rec: r };
  });
  try {
    return await fn(path, rec);
  } catch (err) {
    throw wrapError(err, id, operation);
  } finally {
    const left = (m.get(id) ?? 1) - 1;
    if (left > 0) m.set(id, left);
    else m.delete(id);
    // A container removed meanwhile has nothing left to release.
    await engine
      .withLock(id, operation, (r) => unmountRootfs(engine, r))
      .catch((err: unknown) => {
        if (!(err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND")) throw err;
      });
  }
}
