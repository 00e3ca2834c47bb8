// Content-addressed blobs under <root>/images/blobs/sha256/<hex>. Every write
// hashes while it copies into a temp file beside the final name and renames
// only when the digest matches, so a blob in the store is always whole and
// correct, and a failed write leaves nothing behind.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HullError, invalidArgument } from "../errors.js";

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** The hex part of a "sha256:<hex>" digest; INVALID_ARGUMENT naming field otherwise. */
export function digestHex(digest: string, field = "digest"): string {
  const m = DIGEST.exec(digest);
  if (!m) throw invalidArgument(field, `"${digest.slice(0, 80)}" is not a sha256 digest`);
  return m[1];
}

export function digestMismatch(expected: string, got: string): HullError {
  return new HullError("DATA_CORRUPT", `digest mismatch: expected ${expected}, got ${got}`, { field: "digest", expected, got });
}

/** A pass-through that hashes and counts what flows through it. */
export class HashTap extends Transform {
  private readonly hash = createHash("sha256");
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

export class BlobStore {
  readonly dir: string;

  constructor(imagesDir: string) {
    this.dir = join(imagesDir, "blobs", "sha256");
  }

  path(digest: string): string {
    return join(this.dir, digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    return stat(this.path(digest)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /**
   * Copies source into the store. With `expected`, a different digest (or a
   * size other than `expectedSize`) is refused and nothing is kept.
   */
  async put(source: Readable, expected?: string, expectedSize?: number): Promise<{ digest: string; size: number }> {
    if (expected !== undefined) digestHex(expected);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString("hex")}`);
    const tap = new HashTap();
    try {
      await pipeline(source, tap, createWriteStream(tmp, { mode: 0o600 }));
      const got = tap.digest();
      if (expected !== undefined && got !== expected) throw digestMismatch(expected, got);
      if (expectedSize !== undefined && expectedSize !== tap.size) {
        throw new HullError("DATA_CORRUPT", `blob ${expected ?? got} has ${tap.size} bytes, its descriptor says ${expectedSize}`, { field: "size" });
      }
      await rename(tmp, join(this.dir, digestHex(got)));
      return { digest: got, size: tap.size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  putFile(path: string, expected?: string, expectedSize?: number): Promise<{ digest: string; size: number }> {
    return this.put(createReadStream(path), expected, expectedSize);
  }

  open(digest: string): Readable {
    return createReadStream(this.path(digest));
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }
}

/** An OCI content descriptor: what a manifest or index says of a blob. */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string };
}

export function descriptor(v: unknown, field: string): Descriptor {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof o.digest !== "string") throw invalidArgument(field, "descriptor has no digest");
  digestHex(o.digest, `${field}.digest`);
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) throw invalidArgument(field, "descriptor has no valid size");
  return o as unknown as Descriptor;
}
