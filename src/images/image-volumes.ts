// Image volumes (the CRI's Mount.image, Podman's --mount type=image): an
// image's root filesystem, read-only, at a path in the container. containerd
// prepares a snapshot of the image on the host and bind-mounts it into the
// container; hull does the same with its own layers: they are stacked as a
// read-only overlay (lowerdir only, so no upper or work dir: nothing is ever
// written) under the container's own dir, and the OCI spec binds that dir
// (rbind, ro). overlayfs wants two lower dirs when it has no upper one, so a
// single-layer image's layer dir is bind-mounted read-only instead.
//
// The mounts live and die with the container's rootfs (src/ops/rootfs.ts):
// up when the rootfs is mounted for the runtime, down when it is released.
// Both directions are idempotent (each mount point is looked up in
// mountinfo first); what a crash leaves mounted, recovery unmounts as it
// does a rootfs overlay nothing holds, and removal unmounts before it
// deletes the container's dir.
//
// In a user namespace the files keep their host owners (the container sees
// the overflow id): util-linux 2.38 cannot make idmapped mounts, and copying
// every layer with shifted ids (what the rootfs gets) is not worth it for a
// read-only volume: world-readable files still read.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Mount } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import type { ContainerRecord, ImageVolumeRecord } from "../store/record.js";
import type { ImageStore } from "./image-store.js";
import { unmountOverlay } from "./overlay.js";
import { isMounted, mountLayersReadOnly } from "./mounts.js";

/** Where image volume config.mounts[mount] is mounted on the host. */
export function imageVolumeDir(containerDir: string, mount: number): string {
  return join(containerDir, "image-volumes", String(mount));
}

/**
 * Resolves each image mount against the store, as create records it: by
 * id, so a later retag of the name does not change what the container
 * sees. The image is never pulled here: the kubelet pulls an image volume's
 * image before it creates the container, and CRI-O and containerd answer
 * one that is missing with "not found".
 */
export function resolveImageVolumes(store: ImageStore, mounts: readonly Mount[], prefix = "config"): ImageVolumeRecord[] {
  const volumes: ImageVolumeRecord[] = [];
  for (const [i, m] of mounts.entries()) {
    if (m.type !== "image") continue;
    const img = store.find(m.source);
    if (img === undefined) {
      const field = `${prefix}.mounts[${i}].source`;
      throw new HullError(
        "IMAGE_NOT_FOUND",
        `${field}: image "${m.source}" for the image volume at ${m.destination} is not in hull's store: pull it first (image volumes are never pulled at create)`,
        { field, image: m.source },
      );
    }
    volumes.push({ mount: i, imageId: img.id });
  }
  return volumes;
}

/** Mounts every image volume of rec under containerDir that is not mounted yet. */
export async function mountImageVolumes(store: ImageStore, containerDir: string, rec: ContainerRecord): Promise<void> {
  for (const v of rec.imageVolumes ?? []) {
    const dir = imageVolumeDir(containerDir, v.mount);
    // 0755: a user-namespaced container's root (an unmapped "other" on the host) must walk to the bind source.
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if (await isMounted(dir)) continue;
    const img = store.list().find((i) => i.id === v.imageId);
    if (img === undefined) {
      const m = rec.config.mounts[v.mount];
      throw new HullError(
        "IMAGE_NOT_FOUND",
        `image ${v.imageId} of the image volume at ${m?.destination ?? "?"} (config.mounts[${v.mount}]) of container ${rec.id.slice(0, 12)} is no longer in the store`,
        { image: v.imageId, container: rec.id, field: `config.mounts[${v.mount}].source` },
      );
    }
    // An image with no layers at all has an empty root: the empty dir itself, bound read-only.
    await mountLayersReadOnly(
      [...img.layers].reverse().map((l) => store.layerDir(l.diffId)),
      dir,
      "the image volume",
    );
  }
}

/** Unmounts every image volume of rec that is mounted; the dirs stay (removal deletes them with the container's dir). */
export async function unmountImageVolumes(containerDir: string, rec: ContainerRecord): Promise<void> {
  for (const v of rec.imageVolumes ?? []) await unmountOverlay(imageVolumeDir(containerDir, v.mount));
}

/** Whether any of rec's image volumes is mounted (what recovery checks). */
export async function imageVolumesMounted(containerDir: string, rec: ContainerRecord): Promise<boolean> {
  for (const v of rec.imageVolumes ?? []) if (await isMounted(imageVolumeDir(containerDir, v.mount))) return true;
  return false;
}

/**
 * The config's mounts as the OCI spec gets them: each image volume becomes
 * a read-only bind of its mounted dir (containerd's: rbind, ro, the
 * propagation asked for; no nosuid or noexec unless asked), every other
 * mount as it is.
 */
export function withImageVolumeSources(containerDir: string, rec: ContainerRecord): Mount[] {
  return rec.config.mounts.map((m, i) => {
    if (m.type !== "image") return m;
    if (!(rec.imageVolumes ?? []).some((v) => v.mount === i))
      throw new HullError("INTERNAL", `config.mounts[${i}] of container ${rec.id.slice(0, 12)} is an image volume (${m.source}) create did not resolve`, {
        container: rec.id,
        image: m.source,
      });
    return { type: "bind", source: imageVolumeDir(containerDir, i), destination: m.destination, options: ["ro", ...m.options.filter((o) => o !== "ro")] };
  });
}
