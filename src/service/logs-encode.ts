// ContainerLogsResponse messages written straight from the log's bytes:
// `repeated LogLine lines = 1`, each LogLine as ts-proto would encode it
// (stream = 1 varint, time = 2 Timestamp, data = 3 bytes, full = 4 bool;
// proto3 defaults left out), with no LogLine object or encode call per
// record. The client decodes them with the generated code like any other.
import { Timestamp } from "../gen/google/protobuf/timestamp.js";
import { ContainerLogsResponse } from "../gen/hull/v1/container.js";
import { preEncoded, varintLength, writeVarint } from "./encoded.js";
import type { StreamCode } from "../oci/logline.js";

/** Responses stay near this size (well below gRPC's 4 MiB message limit). */
export const RESPONSE_BYTES = 256 * 1024;

const TAG_LINES = 0x0a;
const TAG_STREAM = 0x08;
const TAG_TIME = 0x12;
const TAG_DATA = 0x1a;
const TAG_FULL = 0x20;

/** Builds ContainerLogsResponse messages out of records, one response per take(). */
export interface LogResponseEncoder {
  /** Bytes in the response being built. */
  readonly size: number;
  /** Appends one record's message data[from, to) (timeMs: its time; full: it ends a line). */
  add(stream: StreamCode, full: boolean, timeMs: number, data: Buffer, from: number, to: number): void;
  /** The response built so far (undefined when empty); what comes next starts a new one. */
  take(): ContainerLogsResponse | undefined;
}

export class LogLinesEncoder implements LogResponseEncoder {
  private block = Buffer.allocUnsafe(RESPONSE_BYTES * 2);
  private start = 0;
  private used = 0;
  private timeMs = Number.NaN;
  private timeBytes: Buffer = Buffer.alloc(0);

  /** With timestamps, every LogLine carries its record's time (as toTimestamp makes it: ms precision). */
  constructor(private readonly timestamps: boolean) {}

  /** Bytes in the response being built. */
  get size(): number {
    return this.used - this.start;
  }

  /** Appends one LogLine of data[from, to). */
  add(stream: StreamCode, full: boolean, timeMs: number, data: Buffer, from: number, to: number): void {
    const n = to - from;
    const time = this.timestamps ? this.timestamp(timeMs) : undefined;
    const inner = 2 + (time ? 1 + varintLength(time.length) + time.length : 0) + (n > 0 ? 1 + varintLength(n) + n : 0) + (full ? 2 : 0);
    const whole = 1 + varintLength(inner) + inner;
    if (this.used + whole > this.block.length) this.grow(whole);
    const b = this.block;
    let p = this.used;
    b[p++] = TAG_LINES;
    p = writeVarint(b, p, inner);
    b[p++] = TAG_STREAM;
    b[p++] = stream;
    if (time) {
      b[p++] = TAG_TIME;
      p = writeVarint(b, p, time.length);
      p += time.copy(b, p);
    }
    if (n > 0) {
      b[p++] = TAG_DATA;
      p = writeVarint(b, p, n);
      // Records are ~100 bytes: a plain loop beats copy()'s view per call there.
      if (n < 64) for (let i = from; i < to; i++) b[p++] = data[i] as number;
      else p += data.copy(b, p, from, to);
    }
    if (full) {
      b[p++] = TAG_FULL;
      b[p++] = 1;
    }
    this.used = p;
  }

  /** The response built so far (undefined when empty); what comes next starts a new one. */
  take(): ContainerLogsResponse | undefined {
    if (this.used === this.start) return undefined;
    // Sent as these bytes (encoded.ts); its fields decode only if something in hulld reads them.
    const msg = preEncoded(this.block.subarray(this.start, this.used), ContainerLogsResponse);
    this.start = this.used;
    return msg;
  }

  /** A new block for the response being built (its bytes so far moved along): the old one is still being written. */
  private grow(need: number): void {
    const pending = this.block.subarray(this.start, this.used);
    this.block = Buffer.allocUnsafe(Math.max(RESPONSE_BYTES * 2, pending.length + need));
    pending.copy(this.block, 0);
    this.start = 0;
    this.used = pending.length;
  }

  /** The Timestamp message of a time, encoded once per distinct time (conmon stamps a whole read with one). */
  private timestamp(ms: number): Buffer {
    if (ms !== this.timeMs) {
      // As the generated toTimestamp: seconds truncated, nanos of the same sign.
      this.timeBytes = Buffer.from(Timestamp.encode({ seconds: Math.trunc(ms / 1000), nanos: (ms % 1000) * 1_000_000 }).finish());
      this.timeMs = ms;
    }
    return this.timeBytes;
  }
}
