// SPDY/3(.1) frame codec: bytes <-> frame objects, with header blocks left
// compressed (their zlib contexts belong to the session, which must feed them
// in frame order). Kept pure so it can be tested byte by byte without sockets.

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const Flag = { FIN: 0x01, UNIDIRECTIONAL: 0x02, CLEAR_SETTINGS: 0x01 } as const;

/** RST_STREAM status codes (SPDY/3 section 2.4.2). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  INVALID_CREDENTIALS: 10,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (SPDY/3 section 2.6.6). */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

export const Setting = { INITIAL_WINDOW_SIZE: 7, MAX_CONCURRENT_STREAMS: 4 } as const;

/** The length field is 24 bits, so this is also the largest frame the wire can describe. */
export const MAX_FRAME_LENGTH = 0xffffff;

const FRAME_HEADER = 8;

export function rstStatusName(status: number): string {
  for (const [name, value] of Object.entries(RstStatus)) if (value === status) return `${name} (${status})`;
  return `unknown status (${status})`;
}

/** A violation of the protocol by the peer; status is the GOAWAY/RST status to answer with. */
export class SpdyProtocolError extends Error {
  constructor(
    message: string,
    readonly status: number = RstStatus.PROTOCOL_ERROR,
    readonly streamId = 0,
  ) {
    super(streamId === 0 ? `spdy: ${message}` : `spdy: stream ${streamId}: ${message}`);
    this.name = "SpdyProtocolError";
  }
}

/** The peer reset a stream (RST_STREAM), or refused it in its GOAWAY. */
export class SpdyStreamResetError extends Error {
  constructor(
    readonly streamId: number,
    readonly status: number,
  ) {
    super(`spdy: stream ${streamId} reset by the peer: ${rstStatusName(status)}`);
    this.name = "SpdyStreamResetError";
  }
}

export interface SettingEntry {
  id: number;
  flags: number;
  value: number;
}

export type Frame =
  | { type: "data"; streamId: number; flags: number; data: Buffer }
  | { type: "syn_stream"; streamId: number; associatedId: number; priority: number; slot: number; flags: number; headerBlock: Buffer }
  | { type: "syn_reply"; streamId: number; flags: number; headerBlock: Buffer }
  | { type: "rst_stream"; streamId: number; status: number }
  | { type: "settings"; flags: number; settings: SettingEntry[] }
  | { type: "ping"; id: number }
  | { type: "goaway"; lastGoodStreamId: number; status: number }
  | { type: "headers"; streamId: number; flags: number; headerBlock: Buffer }
  | { type: "window_update"; streamId: number; delta: number }
  // Spec 2.2.1: unknown control frame types must be ignored; surfaced only so the session counts them as activity.
  | { type: "unknown"; frameType: number; flags: number; length: number };

function controlHeader(type: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`spdy: frame length ${length} exceeds ${MAX_FRAME_LENGTH}`);
  const b = Buffer.allocUnsafe(FRAME_HEADER + length);
  b.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  b.writeUInt32BE(((flags << 24) | length) >>> 0, 4);
  return b;
}

function id31(id: number): number {
  return id & 0x7fffffff;
}

/** Serializes one frame; header blocks must already be compressed. */
export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case "data": {
      if (f.data.length > MAX_FRAME_LENGTH) throw new RangeError(`spdy: data frame of ${f.data.length} bytes is too long`);
      const b = Buffer.allocUnsafe(FRAME_HEADER + f.data.length);
      b.writeUInt32BE(id31(f.streamId), 0);
      b.writeUInt32BE(((f.flags << 24) | f.data.length) >>> 0, 4);
      f.data.copy(b, FRAME_HEADER);
      return b;
    }
    case "syn_stream": {
      const b = controlHeader(FrameType.SYN_STREAM, f.flags, 10 + f.headerBlock.length);
      b.writeUInt32BE(id31(f.streamId), 8);
      b.writeUInt32BE(id31(f.associatedId), 12);
      b[16] = (f.priority & 0x7) << 5;
      b[17] = f.slot & 0xff;
      f.headerBlock.copy(b, 18);
      return b;
    }
    case "syn_reply":
    case "headers": {
      const b = controlHeader(f.type === "syn_reply" ? FrameType.SYN_REPLY : FrameType.HEADERS, f.flags, 4 + f.headerBlock.length);
      b.writeUInt32BE(id31(f.streamId), 8);
      f.headerBlock.copy(b, 12);
      return b;
    }
    case "rst_stream": {
      const b = controlHeader(FrameType.RST_STREAM, 0, 8);
      b.writeUInt32BE(id31(f.streamId), 8);
      b.writeUInt32BE(f.status >>> 0, 12);
      return b;
    }
    case "settings": {
      const b = controlHeader(FrameType.SETTINGS, f.flags, 4 + 8 * f.settings.length);
      b.writeUInt32BE(f.settings.length, 8);
      f.settings.forEach((s, i) => {
        b.writeUInt32BE((((s.flags & 0xff) << 24) | (s.id & 0xffffff)) >>> 0, 12 + 8 * i);
        b.writeUInt32BE(s.value >>> 0, 16 + 8 * i);
      });
      return b;
    }
    case "ping": {
      const b = controlHeader(FrameType.PING, 0, 4);
      b.writeUInt32BE(f.id >>> 0, 8);
      return b;
    }
    case "goaway": {
      const b = controlHeader(FrameType.GOAWAY, 0, 8);
      b.writeUInt32BE(id31(f.lastGoodStreamId), 8);
      b.writeUInt32BE(f.status >>> 0, 12);
      return b;
    }
    case "window_update": {
      const b = controlHeader(FrameType.WINDOW_UPDATE, 0, 8);
      b.writeUInt32BE(id31(f.streamId), 8);
      b.writeUInt32BE(id31(f.delta), 12);
      return b;
    }
    case "unknown":
      throw new TypeError(`spdy: will not send a control frame of unknown type ${f.frameType}`);
  }
}

function decodeControl(type: number, flags: number, body: Buffer): Frame {
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new SpdyProtocolError(`malformed control frame type ${type}: ${what} (length ${body.length})`);
  };
  const streamIdAt = (off: number): number => {
    const id = id31(body.readUInt32BE(off));
    if (id === 0) throw new SpdyProtocolError(`control frame type ${type} names stream id 0`);
    return id;
  };
  switch (type) {
    case FrameType.SYN_STREAM:
      need(body.length >= 10, "shorter than 10 bytes");
      return {
        type: "syn_stream",
        streamId: streamIdAt(0),
        associatedId: id31(body.readUInt32BE(4)),
        priority: body[8] >> 5,
        slot: body[9],
        flags,
        headerBlock: body.subarray(10),
      };
    case FrameType.SYN_REPLY:
    case FrameType.HEADERS:
      need(body.length >= 4, "shorter than 4 bytes");
      return { type: type === FrameType.SYN_REPLY ? "syn_reply" : "headers", streamId: streamIdAt(0), flags, headerBlock: body.subarray(4) };
    case FrameType.RST_STREAM: {
      need(body.length === 8, "not 8 bytes");
      const streamId = streamIdAt(0);
      const status = body.readUInt32BE(4);
      if (status === 0) throw new SpdyProtocolError("RST_STREAM with status 0", RstStatus.PROTOCOL_ERROR, streamId);
      return { type: "rst_stream", streamId, status };
    }
    case FrameType.SETTINGS: {
      need(body.length >= 4, "shorter than 4 bytes");
      const n = body.readUInt32BE(0);
      need(body.length === 4 + 8 * n, `does not hold ${n} entries`);
      const settings: SettingEntry[] = [];
      for (let i = 0; i < n; i++) {
        const word = body.readUInt32BE(4 + 8 * i);
        settings.push({ flags: word >>> 24, id: word & 0xffffff, value: body.readUInt32BE(8 + 8 * i) });
      }
      return { type: "settings", flags, settings };
    }
    case FrameType.PING:
      need(body.length === 4, "not 4 bytes");
      return { type: "ping", id: body.readUInt32BE(0) };
    case FrameType.GOAWAY:
      // SPDY/2 GOAWAY had no status; SPDY/3 requires both words.
      need(body.length === 8, "not 8 bytes");
      return { type: "goaway", lastGoodStreamId: id31(body.readUInt32BE(0)), status: body.readUInt32BE(4) };
    case FrameType.WINDOW_UPDATE: {
      need(body.length === 8, "not 8 bytes");
      // Stream id 0 is the SPDY/3.1 session window, so it is allowed here.
      const streamId = id31(body.readUInt32BE(0));
      const delta = id31(body.readUInt32BE(4));
      if (delta === 0) throw new SpdyProtocolError("WINDOW_UPDATE with delta 0", RstStatus.FLOW_CONTROL_ERROR, streamId);
      return { type: "window_update", streamId, delta };
    }
    default:
      return { type: "unknown", frameType: type, flags, length: body.length };
  }
}

/**
 * Incremental parser: feed socket chunks, get whole frames. Chunks are kept as
 * a list and only joined for the frame being cut, so a large frame arriving in
 * many chunks costs one copy, not one per chunk.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: SpdyProtocolError | undefined;

  constructor(readonly maxFrameLength: number = MAX_FRAME_LENGTH) {}

  /** Bytes held that do not yet make a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  /** Whole frames completed by chunk; throws on a protocol violation. */
  push(chunk: Buffer): Frame[] {
    const { frames, error } = this.pushSome(chunk);
    if (error) throw error;
    return frames;
  }

  /**
   * Like push, but returns the frames that preceded a violation along with it, so a session can act on
   * them in order before failing. After a violation the parser is unusable: framing is lost.
   */
  pushSome(chunk: Buffer): { frames: Frame[]; error?: SpdyProtocolError } {
    if (this.failure) return { frames: [], error: this.failure };
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    try {
      this.cut(frames);
    } catch (err) {
      if (!(err instanceof SpdyProtocolError)) throw err;
      this.failure = err;
      return { frames, error: err };
    }
    return { frames };
  }

  private cut(out: Frame[]): void {
    while (this.buffered >= FRAME_HEADER) {
      const head = this.peek(FRAME_HEADER);
      const w0 = head.readUInt32BE(0);
      const w1 = head.readUInt32BE(4);
      const length = w1 & 0xffffff;
      const flags = w1 >>> 24;
      const control = (w0 & 0x80000000) !== 0;
      // Checked before waiting for the body, so an oversized frame is refused without buffering it.
      if (control) {
        const version = (w0 >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported version ${version}`, RstStatus.UNSUPPORTED_VERSION);
      } else if (id31(w0) === 0) {
        throw new SpdyProtocolError("data frame on stream id 0");
      }
      if (length > this.maxFrameLength) {
        throw new SpdyProtocolError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameLength}`, RstStatus.FRAME_TOO_LARGE, control ? 0 : id31(w0));
      }
      if (this.buffered < FRAME_HEADER + length) break;
      this.take(FRAME_HEADER);
      const body = this.take(length);
      out.push(control ? decodeControl(w0 & 0xffff, flags, body) : { type: "data", streamId: id31(w0), flags, data: body });
    }
  }

  /** Call at end of input: bytes left over are a truncated frame. */
  finish(): void {
    if (this.buffered > 0 && !this.failure) throw new SpdyProtocolError(`input ended inside a frame (${this.buffered} bytes left over)`);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) {
      const joined = this.take(n);
      this.chunks.unshift(joined);
      this.buffered += n;
    }
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
