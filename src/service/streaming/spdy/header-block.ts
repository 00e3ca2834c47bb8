// SPDY/3 name/value header blocks and their zlib contexts. Each direction of a
// connection has one context for its whole life (the peer's inflater depends
// on every block we ever sent), so blocks must be compressed and inflated in
// exactly the order their frames go out and come in; both classes serialize
// their calls to guarantee that even when callers overlap.
import zlib from "node:zlib";
import { SPDY3_DICTIONARY } from "./dictionary.js";
import { SpdyProtocolError } from "./frames.js";

/** Header values as sent; an array becomes one NUL-joined value. */
export type HeaderInput = Record<string, string | readonly string[]>;
/** Header values as received, every value kept. */
export type HeaderValues = Record<string, string[]>;

/** The default bound on one inflated header block. */
export const MAX_HEADER_BLOCK = 256 * 1024;

/** Serializes a block (uncompressed): 32-bit count, then 32-bit length-prefixed names and values. */
export function encodeHeaderBlock(headers: HeaderInput): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [rawName, value] of entries) {
    const name = rawName.toLowerCase();
    const joined = typeof value === "string" ? value : value.join("\0");
    if (name.length === 0) throw new TypeError("spdy: empty header name");
    const n = Buffer.from(name, "utf8");
    const v = Buffer.from(joined, "utf8");
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed block; malformed blocks are protocol errors on streamId. */
export function decodeHeaderBlock(block: Buffer, streamId = 0): HeaderValues {
  let at = 0;
  const bad = (what: string): SpdyProtocolError => new SpdyProtocolError(`bad header block: ${what}`, 1, streamId);
  const read32 = (): number => {
    if (at + 4 > block.length) throw bad("truncated");
    const v = block.readUInt32BE(at);
    at += 4;
    return v;
  };
  const readString = (): string => {
    const n = read32();
    if (at + n > block.length) throw bad("truncated string");
    const s = block.toString("utf8", at, at + n);
    at += n;
    return s;
  };
  const count = read32();
  const out: HeaderValues = Object.create(null) as HeaderValues;
  for (let i = 0; i < count; i++) {
    const name = readString();
    if (name.length === 0) throw bad("empty name");
    if (name !== name.toLowerCase()) throw bad(`name ${JSON.stringify(name)} is not lowercase`);
    if (out[name] !== undefined) throw bad(`duplicate name ${JSON.stringify(name)}`);
    out[name] = readString().split("\0");
  }
  if (at !== block.length) throw bad(`${block.length - at} bytes after the last header`);
  return out;
}

/** The first value of each header, the form most callers want. */
export function firstValues(h: HeaderValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k] = v[0] ?? "";
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/**
 * Runs one zlib stream a block at a time: write the block, Z_SYNC_FLUSH, and
 * collect what came out before the flush's callback (zlib pushes a write's
 * output before completing it, the same contract `ws` relies on for
 * permessage-deflate). Calls are chained so overlapping callers keep order.
 */
class BlockCodec {
  private tail: Promise<unknown> = Promise.resolve();
  private out: Buffer[] = [];
  private outLength = 0;
  private failure: Error | undefined;
  private rejectPending: ((err: Error) => void) | undefined;

  constructor(
    private readonly z: zlib.Deflate | zlib.Inflate,
    private readonly limit: number,
    private readonly describe: (err: Error) => Error,
  ) {
    z.on("data", (c: Buffer) => {
      this.out.push(c);
      this.outLength += c.length;
    });
    z.on("error", (err: Error) => {
      this.failure ??= this.describe(err);
      // A destroyed zlib stream need not call the flush callback, so the waiting block is failed from here.
      this.rejectPending?.(this.failure);
    });
  }

  run(input: Buffer): Promise<Buffer> {
    const step = this.tail.then(() => this.once(input));
    // The chain must survive a failed step so later callers get their own (same) error, not an unhandled rejection.
    this.tail = step.catch(() => undefined);
    return step;
  }

  close(): void {
    this.z.close();
  }

  private once(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.rejectPending = reject;
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.rejectPending = undefined;
        const produced = this.outLength;
        const result = Buffer.concat(this.out, produced);
        this.out = [];
        this.outLength = 0;
        if (this.failure) reject(this.failure);
        else if (produced > this.limit) reject((this.failure = this.describe(new Error(`inflated to ${produced} bytes, limit ${this.limit}`))));
        else resolve(result);
      });
    });
  }
}

/** Our direction: header maps in, compressed blocks out. */
export class HeaderCompressor {
  private readonly codec = new BlockCodec(
    zlib.createDeflate({ dictionary: SPDY3_DICTIONARY }),
    Number.MAX_SAFE_INTEGER,
    (err) => new Error(`spdy: header compression failed: ${err.message}`),
  );

  compress(headers: HeaderInput): Promise<Buffer> {
    return this.codec.run(encodeHeaderBlock(headers));
  }

  close(): void {
    this.codec.close();
  }
}

/** The peer's direction: compressed blocks in, header maps out; any failure is a protocol error. */
export class HeaderDecompressor {
  private readonly codec: BlockCodec;

  constructor(maxBlock = MAX_HEADER_BLOCK) {
    this.codec = new BlockCodec(
      zlib.createInflate({ dictionary: SPDY3_DICTIONARY }),
      maxBlock,
      (err) => new SpdyProtocolError(`header block does not inflate: ${err.message}`),
    );
  }

  async decompress(block: Buffer, streamId = 0): Promise<HeaderValues> {
    try {
      return decodeHeaderBlock(await this.codec.run(block), streamId);
    } catch (err) {
      if (err instanceof SpdyProtocolError && err.streamId === 0 && streamId !== 0) {
        throw new SpdyProtocolError(err.message.replace(/^spdy: /, ""), err.status, streamId);
      }
      throw err;
    }
  }

  close(): void {
    this.codec.close();
  }
}
