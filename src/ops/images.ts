// The image operations of hull.v1.ImageService (and, later, the CRI's):
// import, pull, remove, list, inspect, each recorded as an image event
// before it answers: the tag moves the image store makes on its own (an
// untag, a tag taken over by a new image) included.
import { rm } from "node:fs/promises";
import { HullError } from "../errors.js";
import type { ImageRecord } from "../images/image-store.js";
import type { ContainerRecord } from "../store/record.js";
import { importImage as importIntoStore, spoolPath } from "../images/oci-import.js";
import { pullImage as pullIntoStore, type PullProgressUpdate } from "../images/registry.js";
import { normalizeReference } from "../domain/reference.js";
import type { Engine } from "../engine/engine.js";
import { removeContainer } from "./remove.js";
import { directoryUsage } from "../images/layer-usage.js";

/** Attributes without the empty ones (an import without a reference has no name). */
function eventAttributes(attrs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== ""));
}

function tagOf(ref: string): string | undefined {
  if (ref === "") return undefined;
  try {
    return normalizeReference(ref);
  } catch {
    return undefined;
  }
}

/** Where a streamed import is spooled before it is imported. */
export function importSpoolPath(engine: Engine): Promise<string> {
  return spoolPath(engine.images);
}

export interface ImportSource {
  path: string;
  format: string;
  reference: string;
  /** The file is a spool of streamed bytes: removed once imported. */
  spooled: boolean;
}

export async function importImage(engine: Engine, src: ImportSource): Promise<ImageRecord> {
  try {
    const img = await importIntoStore(engine.images, src.path, src.format, src.reference);
    engine.log.info({ image: img.id, tags: img.tags }, "image imported");
    await engine.settleImageEvents();
    await engine.imageEvent(
      "image_import",
      img.id,
      eventAttributes({ reference: src.reference, name: tagOf(src.reference) ?? "", source: src.spooled ? "stream" : "path" }),
    );
    return img;
  } finally {
    if (src.spooled) await rm(src.path, { force: true });
  }
}

export interface PullRequest {
  reference: string;
  username: string;
  password: string;
  insecure: boolean;
  /** A bearer token to present before any challenge (the CRI's AuthConfig.registry_token). */
  registryToken?: string;
}

/** Pulls through the registries config (mirrors first), the same for hull.v1 and the CRI. */
export async function pullImage(engine: Engine, req: PullRequest, signal: AbortSignal, progress: (p: PullProgressUpdate) => void): Promise<ImageRecord> {
  const opts = {
    username: req.username,
    password: req.password,
    registryToken: req.registryToken,
    insecure: req.insecure,
    registries: engine.registries,
    signal,
  };
  const { image: img, servedBy } = await pullIntoStore(engine.images, req.reference, opts, progress);
  engine.log.info({ image: img.id, tags: img.tags, reference: req.reference, servedBy }, "image pulled");
  await engine.settleImageEvents();
  const name = engine.images.tagNamed(img, req.reference) ?? "";
  await engine.imageEvent("image_pull", img.id, eventAttributes({ reference: req.reference, name, digest: img.digest, servedBy: servedBy ?? "" }));
  return img;
}

export function listImages(engine: Engine, reference: string): ImageRecord[] {
  return engine.images.list(reference);
}

export interface FilesystemUsage {
  timestampNs: bigint;
  /** The directory measured (the CRI's fs_id mountpoint, as containerd reports its snapshotter's root). */
  path: string;
  usedBytes: bigint;
  inodesUsed: bigint;
}

async function usageOf(path: string): Promise<FilesystemUsage> {
  const timestampNs = BigInt(Date.now()) * 1_000_000n;
  const u = await directoryUsage(path);
  return { timestampNs, path, usedBytes: u?.usedBytes ?? 0n, inodesUsed: u?.inodesUsed ?? 0n };
}

/** The space hull's image store takes (blobs and unpacked layers), and its containers' own dirs (writable layers, logs). */
export async function imageFilesystemUsage(engine: Engine): Promise<{ images: FilesystemUsage; containers: FilesystemUsage }> {
  const [images, containers] = await Promise.all([usageOf(engine.images.dir), usageOf(engine.paths.containersDir)]);
  return { images, containers };
}

/** The image ref names (id, id prefix, tag or repo digest, short names normalised), or undefined. */
export function findImage(engine: Engine, reference: string): ImageRecord | undefined {
  return engine.images.find(reference);
}

export function inspectImage(engine: Engine, reference: string): ImageRecord {
  return engine.images.resolve(reference);
}

/** Removes an image; force removes the containers using it first, as `podman rmi -f`. */
export async function removeImage(engine: Engine, ref: string, force: boolean): Promise<{ id: string; removedLayers: string[] }> {
  const store = engine.images;
  const img = store.resolve(ref);
  // One of several tags: only the tag goes, as podman rmi does (the store reports it as image_tag).
  const tag = store.tagNamed(img, ref);
  if (!force && tag !== undefined && img.tags.includes(tag) && img.tags.length > 1) {
    await store.lock.runExclusive(() => store.untag(img.id, tag));
    await engine.settleImageEvents();
    return { id: img.id, removedLayers: [] };
  }
  // Its rootfs, or an image volume (which binds the image's layers as long as the container exists).
  const uses = (c: ContainerRecord): boolean => c.imageId === img.id || (c.imageVolumes ?? []).some((v) => v.imageId === img.id);
  const users = async (): Promise<string[]> => (await engine.store.listContainers()).filter(uses).map((c) => c.id);
  const using = await users();
  if (using.length > 0 && !force) {
    throw new HullError(
      "CONTAINER_HAS_DEPENDENTS",
      `image ${img.id.slice(7, 19)} is in use by container(s) ${using.map((c) => c.slice(0, 12)).join(", ")}: remove them first or force`,
      {
        image: img.id,
        containers: using.join(","),
      },
    );
  }
  for (const id of using) await removeContainer(engine, id, true, 0);
  return store.lock.runExclusive(async () => {
    const still = await users();
    if (still.length > 0)
      throw new HullError(
        "CONTAINER_HAS_DEPENDENTS",
        `image ${img.id.slice(7, 19)} gained container(s) ${still.map((c) => c.slice(0, 12)).join(", ")} while it was being removed`,
        { image: img.id },
      );
    const removedLayers = await store.delete(img.id);
    const name = tag ?? img.tags[0] ?? "";
    await engine.imageEvent(
      "image_remove",
      img.id,
      eventAttributes({ reference: ref, name, tags: img.tags.join(","), removedLayers: String(removedLayers.length) }),
    );
    return { id: img.id, removedLayers };
  });
}
