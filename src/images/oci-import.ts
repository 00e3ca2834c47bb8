// ImportImage's work: an OCI image layout (directory or tar) or a plain
// rootfs tarball (as `podman import`: one layer, a config with no command)
// becomes an image in the store. Every blob's digest is checked as it is
// copied in; on any failure whatever this import added is collected again.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import tar from "tar-stream";
import { HullError, invalidArgument } from "../errors.js";
import { descriptor, digestHex, type Descriptor } from "./blobs.js";
import type { ImageRecord, ImageStore, LayerRef } from "./image-store.js";
import { normalizeReference } from "../domain/reference.js";
import { storeLayers } from "./layer-fetch.js";

export type ImportFormat = "oci-layout" | "rootfs-tar";

const MAX_JSON = 4 * 1024 * 1024;
export const MT_INDEX = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const LAYOUT_ENTRY = /^(?:\.\/)?(oci-layout|index\.json|blobs\/sha256\/[0-9a-f]{64})$/;

export { descriptor, type Descriptor };

export async function readJsonBlob(store: ImageStore, d: Descriptor, field: string): Promise<Record<string, unknown>> {
  if (d.size > MAX_JSON) throw invalidArgument(field, `${d.size} bytes is too large for a JSON document`);
  const text = await readFile(store.blobs.path(d.digest), "utf8");
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(field, `blob ${d.digest} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((e): e is string => typeof e === "string") : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** "oci-layout" for a directory or tar holding oci-layout/index.json; "rootfs-tar" otherwise. */
export async function detectFormat(path: string): Promise<ImportFormat> {
  const st = await stat(path);
  if (st.isDirectory()) {
    const has = await stat(join(path, "oci-layout")).then(
      () => true,
      () => false,
    );
    if (!has) throw invalidArgument("source.path", `directory "${path}" is not an OCI image layout (no oci-layout file)`);
    return "oci-layout";
  }
  const head = Buffer.alloc(2);
  const fh = await (await import("node:fs/promises")).open(path, "r");
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return "rootfs-tar";
  let layout = false;
  const ex = tar.extract();
  const scan = (async () => {
    for await (const entry of ex) {
      const m = LAYOUT_ENTRY.exec(entry.header.name);
      if (m && (m[1] === "oci-layout" || m[1] === "index.json")) layout = true;
      entry.resume();
    }
  })();
  await Promise.all([pipeline(createReadStream(path), ex), scan]).catch(notATar);
  return layout ? "oci-layout" : "rootfs-tar";
}

/** Unpacks an OCI layout tar into dir: only the layout's own files, nothing else. */
async function unpackLayoutTar(path: string, dir: string): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const ex = tar.extract();
  const consume = (async () => {
    for await (const entry of ex) {
      const m = LAYOUT_ENTRY.exec(entry.header.name);
      if (!m || (entry.header.type !== "file" && entry.header.type !== undefined)) {
        entry.resume();
        continue;
      }
      await pipeline(entry, createWriteStream(join(dir, m[1]), { mode: 0o600 }));
    }
  })();
  await Promise.all([pipeline(createReadStream(path), ex), consume]).catch(notATar);
}

/** tar-stream's parse errors mean the client's file is not a tar (INVALID_ARGUMENT); errno errors stay hulld's. */
function notATar(err: unknown): never {
  if (err instanceof HullError || typeof (err as NodeJS.ErrnoException).code === "string") throw err;
  throw invalidArgument("source", `not a readable tar archive: ${err instanceof Error ? err.message : String(err)}`);
}

export function pickManifest(index: Record<string, unknown>): Descriptor {
  const manifests = Array.isArray(index.manifests) ? index.manifests.map((m, i) => descriptor(m, `index.json manifests[${i}]`)) : [];
  if (manifests.length === 0) throw invalidArgument("index.json", "lists no manifests");
  const amd64 = manifests.find((m) => m.platform?.architecture === "amd64" && (m.platform.os ?? "linux") === "linux");
  const chosen = amd64 ?? (manifests.length === 1 || manifests.every((m) => !m.platform) ? manifests[0] : undefined);
  if (!chosen) throw invalidArgument("index.json", "has no linux/amd64 manifest");
  return chosen;
}

/** Runs fn under the store's lock; on failure, collects whatever it left. */
export async function guardedImport<T>(store: ImageStore, fn: () => Promise<T>): Promise<T> {
  return store.lock.runExclusive(async () => {
    try {
      return await fn();
    } catch (err) {
      await store.gc();
      throw err;
    }
  });
}

export function recordFromConfig(
  cfg: Record<string, unknown>,
  configDigest: string,
  manifestDigest: string,
  layers: LayerRef[],
  tags: string[],
  size: number,
): ImageRecord {
  const c = (typeof cfg.config === "object" && cfg.config !== null ? cfg.config : {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (typeof c.Labels === "object" && c.Labels !== null) {
    for (const [k, v] of Object.entries(c.Labels)) if (typeof v === "string") labels[k] = v;
  }
  return {
    id: configDigest,
    tags,
    digest: manifestDigest,
    repoDigests: [],
    sizeBytes: size,
    createdAt: new Date().toISOString(),
    layers,
    entrypoint: strs(c.Entrypoint),
    cmd: strs(c.Cmd),
    env: strs(c.Env),
    workingDir: str(c.WorkingDir),
    user: str(c.User),
    labels,
    architecture: str(cfg.architecture) || "amd64",
    os: str(cfg.os) || "linux",
  };
}

async function importLayoutDir(store: ImageStore, dir: string, tags: string[]): Promise<ImageRecord> {
  const blob = (d: Descriptor): string => join(dir, "blobs", "sha256", digestHex(d.digest));
  const put = (d: Descriptor): Promise<unknown> => store.blobs.putFile(blob(d), d.digest, d.size);
  let index: Record<string, unknown>;
  try {
    index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument("index.json", `unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
  let manifestDesc = pickManifest(index);
  // A nested index (an image index pointing at per-platform manifests).
  for (let depth = 0; manifestDesc.mediaType !== undefined && MT_INDEX.includes(manifestDesc.mediaType); depth++) {
    if (depth > 3) throw invalidArgument("index.json", "indexes nest too deep");
    await put(manifestDesc);
    manifestDesc = pickManifest(await readJsonBlob(store, manifestDesc, "index"));
  }
  await put(manifestDesc);
  const manifest = await readJsonBlob(store, manifestDesc, "manifest");
  const configDesc = descriptor(manifest.config, "manifest.config");
  await put(configDesc);
  const cfg = await readJsonBlob(store, configDesc, "config");
  const rootfs = (typeof cfg.rootfs === "object" && cfg.rootfs !== null ? cfg.rootfs : {}) as Record<string, unknown>;
  const diffIds = strs(rootfs.diff_ids);
  const layerDescs = Array.isArray(manifest.layers) ? manifest.layers.map((l, i) => descriptor(l, `manifest.layers[${i}]`)) : [];
  if (diffIds.length !== layerDescs.length) throw invalidArgument("config.rootfs.diff_ids", `${diffIds.length} diff ids for ${layerDescs.length} layers`);
  const layers = await storeLayers(layerDescs, diffIds, async (d, diffId) => {
    await put(d);
    return store.ensureLayer(d.digest, diffId);
  });
  const size = manifestDesc.size + configDesc.size + layers.reduce((n, l) => n + l.size, 0);
  return store.commit(recordFromConfig(cfg, configDesc.digest, manifestDesc.digest, layers, tags, size));
}

async function importRootfsTar(store: ImageStore, path: string, tags: string[]): Promise<ImageRecord> {
  const layerBlob = await store.blobs.putFile(path);
  const diffId = await store.ensureLayer(layerBlob.digest);
  const created = new Date().toISOString();
  const config = {
    created,
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created, created_by: "hull image import" }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const cfgBlob = await store.blobs.put(Readable.from([configBytes]));
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgBlob.digest, size: cfgBlob.size },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerBlob.digest, size: layerBlob.size }],
  };
  const mBlob = await store.blobs.put(Readable.from([Buffer.from(JSON.stringify(manifest))]));
  const layers = [{ digest: layerBlob.digest, diffId, size: layerBlob.size }];
  return store.commit(recordFromConfig(config, cfgBlob.digest, mBlob.digest, layers, tags, layerBlob.size + cfgBlob.size + mBlob.size));
}

/** Imports the image at a host path (a layout dir, a layout tar or a rootfs tarball). */
export async function importImage(store: ImageStore, path: string, format: string, reference: string): Promise<ImageRecord> {
  if (format !== "" && format !== "oci-layout" && format !== "rootfs-tar") {
    throw invalidArgument("source.format", `"${format}" is not oci-layout or rootfs-tar`);
  }
  const tags = reference === "" ? [] : [normalizeReference(reference, "source.reference")];
  const st = await stat(path).catch(() => undefined);
  if (!st) throw invalidArgument("source.path", `"${path}" does not exist`);
  if (!st.isDirectory() && !st.isFile()) throw invalidArgument("source.path", `"${path}" is neither a directory nor a file`);
  const fmt = format === "" ? await detectFormat(path) : (format as ImportFormat);
  if (fmt === "rootfs-tar") {
    if (st.isDirectory()) throw invalidArgument("source.path", `"${path}" is a directory, not a rootfs tarball`);
    return guardedImport(store, () => importRootfsTar(store, path, tags));
  }
  if (st.isDirectory()) return guardedImport(store, () => importLayoutDir(store, path, tags));
  const staging = join(store.dir, "incoming", `layout-${randomBytes(8).toString("hex")}`);
  try {
    await unpackLayoutTar(path, staging);
    return await guardedImport(store, () => importLayoutDir(store, staging, tags));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Where a streamed import spools its bytes (never touched by the store's gc). */
export async function spoolPath(store: ImageStore): Promise<string> {
  const dir = join(store.dir, "incoming");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return join(dir, `stream-${randomBytes(8).toString("hex")}`);
}
