// ContainerLogsResponse messages for a raw request: `repeated OutputFrame
// output = 2`, each frame one stream's consecutive output (stream = 1
// varint, data = 2 bytes), as ts-proto would encode them. A client then
// decodes a few messages per 256 KiB instead of a LogLine per line, which
// was what bounded a bulk ContainerLogs read (issue 12).
import { ContainerLogsResponse } from "../gen/hull/v1/container.js";
import { preEncoded, varintLength, writeVarint } from "./encoded.js";
import { RESPONSE_BYTES, type LogResponseEncoder } from "./logs-encode.js";
import type { StreamCode } from "../oci/logline.js";

const TAG_OUTPUT = 0x12;
const TAG_STREAM = 0x08;
const TAG_DATA = 0x12;
const NL = 0x0a;
/** Room left before a frame's data for its header: tag and length of the frame, its stream, tag and length of the data. */
const HEADER_MAX = 1 + 5 + 2 + 1 + 5;

export class OutputFramesEncoder implements LogResponseEncoder {
  private block = Buffer.allocUnsafe(RESPONSE_BYTES * 2);
  private start = 0;
  private used = 0;
  /** Where the open frame's header room begins; -1 when no frame is open. */
  private frameAt = -1;
  private frameStream: StreamCode = 1;

  get size(): number {
    return this.used - this.start;
  }

  /** Appends data[from, to) of `stream`, and the line's newline when the record is full. */
  add(stream: StreamCode, full: boolean, _timeMs: number, data: Buffer, from: number, to: number): void {
    const n = to - from + (full ? 1 : 0);
    if (n === 0) return;
    if (this.frameAt >= 0 && stream !== this.frameStream) this.closeFrame();
    if (this.used + n + (this.frameAt < 0 ? HEADER_MAX : 0) > this.block.length) this.grow(n + HEADER_MAX);
    if (this.frameAt < 0) {
      this.frameAt = this.used;
      this.frameStream = stream;
      this.used += HEADER_MAX;
    }
    const b = this.block;
    let p = this.used;
    // Records are ~100 bytes: a plain loop beats copy()'s view per call there.
    if (to - from < 64) for (let i = from; i < to; i++) b[p++] = data[i] as number;
    else p += data.copy(b, p, from, to);
    if (full) b[p++] = NL;
    this.used = p;
  }

  take(): ContainerLogsResponse | undefined {
    this.closeFrame();
    if (this.used === this.start) return undefined;
    const msg = preEncoded(this.block.subarray(this.start, this.used), ContainerLogsResponse);
    this.start = this.used;
    return msg;
  }

  /** Writes the open frame's header, its exact size known now, and moves the data up against it. */
  private closeFrame(): void {
    const at = this.frameAt;
    if (at < 0) return;
    this.frameAt = -1;
    const dataAt = at + HEADER_MAX;
    const len = this.used - dataAt;
    const inner = 2 + 1 + varintLength(len) + len;
    const b = this.block;
    let p = writeVarint(b, at, TAG_OUTPUT);
    p = writeVarint(b, p, inner);
    b[p++] = TAG_STREAM;
    b[p++] = this.frameStream;
    b[p++] = TAG_DATA;
    p = writeVarint(b, p, len);
    if (p < dataAt) b.copyWithin(p, dataAt, this.used);
    this.used = p + len;
  }

  /** A new block for the response being built (its bytes so far moved along): the old one is still being written. */
  private grow(need: number): void {
    const pending = this.block.subarray(this.start, this.used);
    this.block = Buffer.allocUnsafe(Math.max(RESPONSE_BYTES * 2, pending.length + need));
    pending.copy(this.block, 0);
    if (this.frameAt >= 0) this.frameAt -= this.start;
    this.start = 0;
    this.used = pending.length;
  }
}
