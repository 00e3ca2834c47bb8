// Content-addressed blobs under <root>/images/blobs/sha256/<hex>. Every write
// hashes while it copies into a temp file beside the final name and renames
// only when the digest matches, so a blob in the store is always whole and
// correct, and a failed write leaves nothing behind.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Transform, type Readable, type Writable } from "node:stream";
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

/** Resolves once stream can take more (drain) or never will (closed, errored). */
function writable(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      stream.off("error", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
    stream.on("error", done);
  });
}

/** A received blob, verified and spooled beside its final name: kept by commit(), dropped by discard(). */
export interface ReceivedBlob<T> {
  value: T;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** What receive() hands the consumer: the bytes as they arrive, and the first of them (at least 2 unless the blob is shorter) to sniff the format. */
export type BlobConsumer<T> = (input: Readable, head: Buffer) => Promise<T>;

/** Bytes between the pump and the consumer: enough to keep gunzip and tar busy while the next network chunks arrive. */
const TEE_BUFFER = 1 << 20;
const SPOOL_BATCH = 1 << 20;
const SPOOL_AHEAD = 4 << 20;

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

  /**
   * Reads source once and tees it: every chunk is hashed, spooled to a temp
   * file beside the blob's final name and fed to consumer, so a pulled layer
   * unpacks while it downloads (one pass, as containerd's content writer
   * verifies on commit) instead of being written, then read back. The
   * digest and size are checked at the end; a mismatch rejects with
   * DATA_CORRUPT whatever the consumer made of the bad bytes (a corrupt
   * gzip stream, say), so the source is read to its end even after the
   * consumer failed. The caller rolls back what its consumer made when this
   * rejects, and keeps the blob with commit() once its own checks pass.
   */
  async receive<T>(source: AsyncIterable<Uint8Array>, expected: string, expectedSize: number, consumer: BlobConsumer<T>): Promise<ReceivedBlob<T>> {
    const final = join(this.dir, digestHex(expected));
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString("hex")}`);
    // The pump waits on the file only when the disk falls SPOOL_AHEAD behind.
    const file = createWriteStream(tmp, { mode: 0o600, highWaterMark: SPOOL_AHEAD });
    let fileError: Error | undefined;
    file.on("error", (err) => (fileError ??= err));
    const input = new PassThrough({ highWaterMark: TEE_BUFFER });
    let consumed: Promise<{ ok: true; value: T } | { ok: false; err: unknown }> | undefined;
    let consumerFailed = false;
    const start = (head: Buffer): void => {
      consumed = consumer(input, head).then(
        (value) => ({ ok: true as const, value }),
        (err: unknown) => {
          consumerFailed = true;
          input.destroy();
          return { ok: false as const, err };
        },
      );
    };
    // Network chunks (16–64 KiB) go to the file in batches: one writev per
    // SPOOL_BATCH instead of a thread-pool round trip per chunk (the profile's
    // top entry under load was fs writeBuffer).
    let spooled: Buffer[] = [];
    let spooledBytes = 0;
    const spool = (): boolean => {
      if (spooled.length === 0) return true;
      file.cork();
      let ok = true;
      for (const b of spooled) ok = file.write(b);
      file.uncork();
      spooled = [];
      spooledBytes = 0;
      return ok;
    };
    const hash = createHash("sha256");
    let size = 0;
    let held: Buffer[] = [];
    try {
      for await (const bytes of source) {
        const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        size += chunk.length;
        if (size > expectedSize) break;
        hash.update(chunk);
        if (consumerFailed) continue;
        const waits: Promise<void>[] = [];
        spooled.push(chunk);
        spooledBytes += chunk.length;
        if (spooledBytes >= SPOOL_BATCH && !spool()) waits.push(writable(file));
        held.push(chunk);
        if (consumed === undefined && size < 2) continue;
        const out = held.length === 1 ? chunk : Buffer.concat(held);
        held = [];
        if (consumed === undefined) start(out);
        if (!input.destroyed && !input.write(out)) waits.push(writable(input));
        if (waits.length > 0) await Promise.all(waits);
        if (fileError) throw fileError;
      }
      spool();
      if (consumed === undefined) start(Buffer.concat(held));
      if (held.length > 0 && !input.destroyed) input.write(Buffer.concat(held));
      input.end();
      await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      if (fileError) throw fileError;
    } catch (err) {
      input.destroy();
      file.destroy();
      await consumed;
      await rm(tmp, { force: true });
      // The disk's errors (errno codes) stay hulld's; anything else broke the download.
      const code = (err as NodeJS.ErrnoException).code;
      if (err instanceof HullError || (typeof code === "string" && /^E[A-Z]+$/.test(code))) throw err;
      throw new HullError(
        "UNAVAILABLE",
        `blob ${expected}: the download broke off: ${err instanceof Error ? err.message : String(err)}`,
        { digest: expected },
        { cause: err },
      );
    }
    const outcome = await (consumed as NonNullable<typeof consumed>);
    const got = `sha256:${hash.digest("hex")}`;
    const bad =
      size !== expectedSize
        ? new HullError("DATA_CORRUPT", `blob ${expected} has ${size > expectedSize ? "more than " : ""}${size} bytes, its descriptor says ${expectedSize}`, {
            field: "size",
          })
        : got !== expected
          ? digestMismatch(expected, got)
          : undefined;
    if (bad || !outcome.ok) {
      await rm(tmp, { force: true });
      throw bad ?? (outcome as { err: unknown }).err;
    }
    return {
      value: outcome.value,
      commit: () => rename(tmp, final),
      discard: () => rm(tmp, { force: true }),
    };
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
