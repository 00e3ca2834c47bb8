// Overlay root filesystems for image containers: the image's layers (top
// first) as lower dirs, and an upper and work dir under the container's own
// directory, so its changes go away with it and the layers stay shared.
import { chown, mkdir } from "node:fs/promises";
import { isMounted } from "./mounts.js";
import { join } from "node:path";
import { runCommand } from "../command.js";
import { HullError } from "../errors.js";
import { inSpan } from "../tracing.js";
import type { ContainerRecord } from "../store/record.js";
import type { ImageStore } from "./image-store.js";
import { shiftedLower } from "./shifted-layers.js";
import { userNamespaceMapping } from "../validation/spec-rules.js";

export interface OverlayDirs {
  upper: string;
  work: string;
  merged: string;
}

export function overlayDirs(containerDir: string): OverlayDirs {
  const base = join(containerDir, "overlay");
  return { upper: join(base, "upper"), work: join(base, "work"), merged: join(base, "merged") };
}

export { isMounted } from "./mounts.js";

/**
 * Unmounts in flight, by mount point. An exit releases its rootfs after the
 * container's lock is let go (ops/cleanup.ts), so a removal right behind it
 * may ask for the same unmount: it waits for that one instead of racing its
 * own `umount` to "not mounted".
 */
const unmounting = new Map<string, Promise<void>>();

export async function mountOverlay(lowers: string[], dirs: OverlayDirs): Promise<void> {
  if (lowers.length === 0) throw new HullError("INTERNAL", "an overlay needs at least one lower dir");
  for (const d of [dirs.upper, dirs.work, dirs.merged]) await mkdir(d, { recursive: true, mode: 0o755 });
  // A mount seen just before its unmount ends would be taken for ours. The
  // unmount's failure is its own caller's to report; here only its end counts.
  await Promise.allSettled([unmounting.get(dirs.merged)]);
  if (await isMounted(dirs.merged)) return;
  const opts = `lowerdir=${lowers.join(":")},upperdir=${dirs.upper},workdir=${dirs.work}`;
  const r = await inSpan("storage.mount", { "hull.mount.target": dirs.merged }, () =>
    runCommand("mount", ["-t", "overlay", "overlay", "-o", opts, dirs.merged]),
  );
  if (r.exitCode !== 0) throw new HullError("INTERNAL", `mounting the overlay at ${dirs.merged} failed: ${r.stderr || r.stdout}`);
}

export function unmountOverlay(merged: string): Promise<void> {
  const inFlight = unmounting.get(merged);
  if (inFlight) return inFlight;
  const done = (async () => {
    if (!(await isMounted(merged))) return;
    const r = await inSpan("storage.unmount", { "hull.mount.target": merged }, () => runCommand("umount", [merged]));
    if (r.exitCode !== 0) throw new HullError("INTERNAL", `unmounting the overlay at ${merged} failed: ${r.stderr || r.stdout}`);
  })().finally(() => unmounting.delete(merged));
  unmounting.set(merged, done);
  return done;
}

/** Mounts an image container's overlay (idempotent); returns the merged dir. */
export async function mountImageRootfs(store: ImageStore, containerDir: string, rec: ContainerRecord): Promise<string> {
  // Not from an image (a restored container's laid-down dir): nothing to mount.
  if (rec.imageId === undefined) return rec.rootfs;
  const imageId = rec.imageId;
  const img = store.list().find((i) => i.id === imageId);
  if (!img)
    throw new HullError("IMAGE_NOT_FOUND", `image ${imageId} of container ${rec.id.slice(0, 12)} is no longer in the store`, {
      image: imageId,
      container: rec.id,
    });
  const dirs = overlayDirs(containerDir);
  const lowers = [...img.layers].reverse().map((l) => store.layerDir(l.diffId));
  const map = userNamespaceMapping(rec.config.security?.userNamespace);
  if (map === undefined) {
    await mountOverlay(lowers, dirs);
    return dirs.merged;
  }
  // Root in a user namespace owns nothing of the image: it gets a shifted copy, and its upper dir's root (the merged root) is its own.
  const shifted = await shiftedLower(lowers, join(containerDir, "overlay"), map);
  await mkdir(dirs.upper, { recursive: true, mode: 0o755 });
  await chown(dirs.upper, map.uid.hostId, map.gid.hostId);
  await mountOverlay([shifted], dirs);
  return dirs.merged;
}

export async function unmountImageRootfs(containerDir: string, rec: ContainerRecord): Promise<void> {
  if (rec.imageId === undefined) return;
  await unmountOverlay(overlayDirs(containerDir).merged);
}
