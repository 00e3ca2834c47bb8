// The image store: records (with tags) in the state store under img/, blobs
// in the content-addressed BlobStore, and layers unpacked once under
// <root>/images/layers/<diffid hex>/ and shared by every image and container
// that uses them. One mutex serialises imports and removals, which is what
// makes the garbage collection after a failed import safe.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { Mutex } from "async-mutex";
import type { Logger } from "pino";
import type { StateStore } from "../store/store.js";
import { HullError } from "../errors.js";
import type { Readable } from "node:stream";
import { BlobStore, HashTap, digestHex, digestMismatch, type Descriptor } from "./blobs.js";
import { extractLayer } from "./layer-extract.js";
import { canonicalName, normalizeReference, parseImageName } from "../domain/reference.js";

export interface LayerRef {
  /** Digest of the blob as stored (compressed or not). */
  digest: string;
  /** Digest of the uncompressed tar: names the unpacked directory. */
  diffId: string;
  size: number;
}

/** Tags a save took off an image: moved to another image, or untagged. */
export interface TagsRemoved {
  imageId: string;
  removed: string[];
  /** The tags the image keeps. */
  tags: string[];
}

export interface ImageRecord {
  /** Config digest, "sha256:...". */
  id: string;
  tags: string[];
  /** Manifest digest (the platform manifest, under an index). */
  digest: string;
  /** `<repository>@<digest>` for each pull: the top-level digest the registry served under that name (a list's, for a list), as the CRI's RepoDigests. */
  repoDigests: string[];
  sizeBytes: number;
  createdAt: string;
  layers: LayerRef[];
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  labels: Record<string, string>;
  architecture: string;
  os: string;
}

/**
 * The names ref may be stored under: hull's local tag form (`hello` →
 * `hello:latest`, as ImportImage tags) and the docker/CRI form (`busybox` →
 * `docker.io/library/busybox:latest`, `name@sha256:…`), so short names find
 * pulled images as they do in Podman and the kubelet.
 */
function namesOf(ref: string): string[] {
  const names: string[] = [];
  try {
    names.push(normalizeReference(ref));
  } catch {
    // Not a local tag (a digest reference, say): the docker form below may still name it.
  }
  try {
    names.push(canonicalName(parseImageName(ref)));
  } catch {
    // Not a docker reference either: only ids and id prefixes can match.
  }
  return [...new Set(names)];
}

/** gunzip's output chunks: zlib's 16 KiB default means 16 times the calls into tar parsing, hashing and file writes per MiB. */
const GUNZIP_CHUNK = 256 * 1024;

const isGzip = (head: Buffer): boolean => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;

async function readHead(path: string, n: number): Promise<Buffer> {
  const { open } = await import("node:fs/promises");
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * A layer that is not a readable (gzip) tar is the client's fault; errors
 * from the file system (errno codes) stay internal.
 */
function asLayerError(err: unknown, digest: string): unknown {
  if (err instanceof HullError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HullError("INVALID_ARGUMENT", `layer ${digest} is not a valid tar or gzip stream: ${message}`, { field: "layer", digest }, { cause: err });
}

export class ImageStore {
  readonly dir: string;
  readonly blobs: BlobStore;
  readonly layersDir: string;
  /** Serialises imports, removals and garbage collection. */
  readonly lock = new Mutex();
  /** Told after each save that took tags off an image (the image_tag events); must not throw. */
  onTagsRemoved: ((change: TagsRemoved) => void) | undefined;

  private constructor(
    root: string,
    private readonly state: StateStore,
    private readonly log: Logger,
    private readonly images: Map<string, ImageRecord>,
  ) {
    this.dir = join(root, "images");
    this.blobs = new BlobStore(this.dir);
    this.layersDir = join(this.dir, "layers");
  }

  static async open(root: string, state: StateStore, log: Logger): Promise<ImageStore> {
    const values = await state.listImageRecords();
    const images = new Map<string, ImageRecord>();
    for (const v of values) {
      const rec = v as ImageRecord;
      // Records from before RepoDigests were kept have none.
      if (typeof rec.id === "string") images.set(rec.id, { ...rec, repoDigests: Array.isArray(rec.repoDigests) ? rec.repoDigests : [] });
    }
    const store = new ImageStore(root, state, log, images);
    // Whatever a crash mid-import left behind goes now (no import runs yet, so spools too).
    await store.lock.runExclusive(() => store.gc());
    await rm(join(store.dir, "incoming"), { recursive: true, force: true });
    return store;
  }

  layerDir(diffId: string): string {
    return join(this.layersDir, digestHex(diffId, "diff_id"));
  }

  list(filter = ""): ImageRecord[] {
    return [...this.images.values()]
      .filter((img) => filter === "" || img.tags.some((t) => t.includes(filter)))
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  /** The image ref names, or undefined: by full id (with or without "sha256:"), tag, repo digest or unique id prefix. */
  find(ref: string): ImageRecord | undefined {
    if (ref === "") return undefined;
    const hex = ref.startsWith("sha256:") ? ref.slice(7) : ref;
    const byId = this.images.get(`sha256:${hex}`);
    if (byId) return byId;
    for (const name of namesOf(ref)) {
      const named = [...this.images.values()].find((img) => img.tags.includes(name) || img.repoDigests.includes(name));
      if (named) return named;
    }
    if (/^[0-9a-f]{1,63}$/.test(hex)) {
      const matches = [...this.images.values()].filter((img) => img.id.slice(7).startsWith(hex));
      if (matches.length > 1) {
        throw new HullError("AMBIGUOUS_ID", `prefix "${ref}" matches several images: ${matches.map((m) => m.id.slice(7, 19)).join(", ")}`);
      }
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  /** As find, or IMAGE_NOT_FOUND. */
  resolve(ref: string): ImageRecord {
    const img = this.find(ref);
    if (img === undefined) throw new HullError("IMAGE_NOT_FOUND", `image "${ref}" not found`, { image: ref });
    return img;
  }

  /** The tag of img that ref names (hull's local form or the docker-normalised one), if ref is one of its tags. */
  tagNamed(img: ImageRecord, ref: string): string | undefined {
    return namesOf(ref).find((n) => img.tags.includes(n));
  }

  /**
   * Unpacks a stored layer blob (gzip or plain tar) once; checks its diff id
   * when one is expected. Caller holds the lock.
   */
  async ensureLayer(blobDigest: string, expectedDiffId?: string): Promise<string> {
    if (expectedDiffId !== undefined && (await this.hasLayer(expectedDiffId))) return expectedDiffId;
    const gz = isGzip(await readHead(this.blobs.path(blobDigest), 2));
    return this.withLayerDir(blobDigest, async (tmp) => {
      const diffId = await this.unpack(this.blobs.open(blobDigest), gz, tmp, blobDigest);
      return { diffId, keep: async () => this.keepLayer(tmp, diffId, expectedDiffId) };
    });
  }

  /**
   * Stores a layer blob arriving as source and unpacks it in the same pass
   * (BlobStore.receive tees it): the blob is kept and the layer renamed into
   * place only once the blob's digest and size and the layer's diff id all
   * match; on any mismatch both go. Caller holds the lock.
   */
  async receiveLayer(source: AsyncIterable<Uint8Array>, d: Descriptor, expectedDiffId: string): Promise<string> {
    return this.withLayerDir(d.digest, async (tmp) => {
      const blob = await this.blobs.receive(source, d.digest, d.size, (input, head) => this.unpack(input, isGzip(head), tmp, d.digest));
      return {
        diffId: blob.value,
        keep: async () => {
          try {
            await this.keepLayer(tmp, blob.value, expectedDiffId);
            await blob.commit();
          } catch (err) {
            await blob.discard();
            throw err;
          }
        },
      };
    });
  }

  async hasLayer(diffId: string): Promise<boolean> {
    return this.isDir(this.layerDir(diffId));
  }

  /** Runs fill on a fresh temp dir under layers/, then its keep(); the temp dir goes on any failure. */
  private async withLayerDir(blobDigest: string, fill: (tmp: string) => Promise<{ diffId: string; keep: () => Promise<void> }>): Promise<string> {
    await mkdir(this.layersDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.layersDir, `.tmp-${randomBytes(8).toString("hex")}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      const { diffId, keep } = await fill(tmp);
      await keep();
      return diffId;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw asLayerError(err, blobDigest);
    }
  }

  /** Extracts src (gunzipped when gz) into dir; resolves to the diff id (the tar's digest). */
  private async unpack(src: Readable, gz: boolean, dir: string, blobDigest: string): Promise<string> {
    const tap = new HashTap();
    const gunzip = gz ? createGunzip({ chunkSize: GUNZIP_CHUNK }) : undefined;
    const tarStream = gunzip ? src.pipe(gunzip).pipe(tap) : src.pipe(tap);
    src.on("error", (err) => tarStream.destroy(err));
    // pipe() does not forward a corrupt gzip stream's error: unhandled, it would end hulld.
    gunzip?.on("error", (err) => tarStream.destroy(err));
    const res = await extractLayer(tarStream, dir);
    if (res.skipped.length > 0) this.log.warn({ layer: blobDigest, skipped: res.skipped }, "layer entries of unsupported types were skipped");
    return tap.digest();
  }

  /** Renames an unpacked temp dir to its diff id's name, once the diff id is the one expected. */
  private async keepLayer(tmp: string, diffId: string, expectedDiffId: string | undefined): Promise<void> {
    if (expectedDiffId !== undefined && diffId !== expectedDiffId) throw digestMismatch(expectedDiffId, diffId);
    const final = this.layerDir(diffId);
    if (await this.isDir(final)) await rm(tmp, { recursive: true, force: true });
    else await rename(tmp, final);
  }

  /** Drops one tag of an image that keeps others (podman rmi of one of several tags). Caller holds the lock. */
  async untag(id: string, tag: string): Promise<void> {
    const img = this.images.get(id);
    if (!img) return;
    const next = { ...img, tags: img.tags.filter((t) => t !== tag) };
    await this.state.writeImageRecords([{ id, value: next }], []);
    this.images.set(id, next);
    this.onTagsRemoved?.({ imageId: id, removed: [tag], tags: [...next.tags] });
  }

  /** Saves a new image, moving its tag from any image that had it. Caller holds the lock. */
  async commit(img: ImageRecord): Promise<ImageRecord> {
    const existing = this.images.get(img.id);
    // The same config again (imported, then pulled by another manifest): the record names the manifest it came by last, so a
    // pull's answer and event carry the digest the registry served, not the first import's.
    const merged: ImageRecord = existing
      ? {
          ...existing,
          digest: img.digest !== "" ? img.digest : existing.digest,
          tags: [...new Set([...existing.tags, ...img.tags])],
          repoDigests: [...new Set([...existing.repoDigests, ...img.repoDigests])],
        }
      : img;
    const puts: { id: string; value: ImageRecord }[] = [{ id: merged.id, value: merged }];
    for (const other of this.images.values()) {
      if (other.id === merged.id) continue;
      const kept = other.tags.filter((t) => !img.tags.includes(t));
      if (kept.length !== other.tags.length) puts.push({ id: other.id, value: { ...other, tags: kept } });
    }
    await this.state.writeImageRecords(puts, []);
    for (const p of puts) {
      const before = this.images.get(p.id);
      this.images.set(p.id, p.value);
      if (p.id === merged.id || !before) continue;
      this.onTagsRemoved?.({ imageId: p.id, removed: before.tags.filter((t) => !p.value.tags.includes(t)), tags: [...p.value.tags] });
    }
    return merged;
  }

  /** Deletes the record, then every blob and layer no image refers to any more. Caller holds the lock. */
  async delete(id: string): Promise<string[]> {
    const img = this.images.get(id);
    if (!img) return [];
    await this.state.writeImageRecords([], [id]);
    this.images.delete(id);
    const { layers } = await this.gc();
    return img.layers.map((l) => l.diffId).filter((d) => layers.includes(d));
  }

  /** Removes unreferenced blobs and layers and leftover temp files. Caller holds the lock. */
  async gc(): Promise<{ layers: string[] }> {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const img of this.images.values()) {
      blobs.add(digestHex(img.id)).add(digestHex(img.digest));
      for (const l of img.layers) {
        blobs.add(digestHex(l.digest));
        layers.add(digestHex(l.diffId));
      }
    }
    const freed: string[] = [];
    for (const name of await readdir(this.blobs.dir).catch(() => [])) {
      if (!blobs.has(name)) await rm(join(this.blobs.dir, name), { force: true });
    }
    for (const name of await readdir(this.layersDir).catch(() => [])) {
      if (layers.has(name)) continue;
      await rm(join(this.layersDir, name), { recursive: true, force: true });
      if (/^[0-9a-f]{64}$/.test(name)) freed.push(`sha256:${name}`);
    }
    return { layers: freed };
  }

  private async isDir(path: string): Promise<boolean> {
    return stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }
}
