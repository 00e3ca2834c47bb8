// One SPDY stream as a Duplex, driven by its session (session.ts) through
// the StreamHost interface, so the session's internals stay private.
import { Duplex } from "node:stream";
import { RstStatus, rstStatusName, SpdyProtocolError, SpdyStreamResetError } from "./frames.js";
import { firstValues, type HeaderInput, type HeaderValues } from "./header-block.js";

/** What a stream needs from its session; an interface so the session's internals stay private. */
export interface StreamHost {
  reply(s: SpdyStream, headers: HeaderInput): void;
  data(s: SpdyStream, chunk: Buffer, fin: boolean): Promise<void>;
  reset(s: SpdyStream, status: number): void;
  consumed(s: SpdyStream): void;
  destroyed(s: SpdyStream): void;
}

/**
 * One SPDY stream as a Duplex: writes become DATA frames, end() a FIN, the
 * peer's DATA is the readable side and its FIN ends it. Emits "headers"
 * (Record<string, string>) for a peer HEADERS frame.
 */
export class SpdyStream extends Duplex {
  /** The SYN_STREAM's headers (the peer's for an inbound stream, ours for one we opened), first value of each. */
  readonly headers: Record<string, string>;
  /** The peer's SYN_REPLY headers, for a stream we opened. */
  replyHeaders: Record<string, string> = {};
  /** @internal */ localFin = false;
  /** @internal */ remoteFin = false;
  /** @internal */ replied = false;
  /** @internal bytes of DATA received */ received = 0;
  /** @internal bytes announced back in WINDOW_UPDATE */ acked = 0;
  /** @internal */ opening: { resolve: (s: SpdyStream) => void; reject: (err: Error) => void } | undefined;
  // Set once no more frames may be sent for this stream (reset either way, or the session is gone).
  private silenced = false;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
    readonly headerValues: HeaderValues,
    readonly inbound: boolean,
    highWaterMark: number,
  ) {
    super({ readableHighWaterMark: highWaterMark, allowHalfOpen: true });
    this.headers = firstValues(headerValues);
  }

  /** Sends SYN_REPLY for a stream the peer opened; writing first replies with no headers. */
  reply(headers: HeaderInput = {}): void {
    if (!this.inbound) throw new Error(`spdy: stream ${this.id}: only a stream the peer opened is replied to`);
    if (this.replied) throw new Error(`spdy: stream ${this.id}: already replied`);
    this.replied = true;
    this.host.reply(this, headers);
  }

  /** Sends RST_STREAM and destroys the stream (without an error: we chose to). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.silenced || this.destroyed) return;
    this.silenced = true;
    // A stream closed both ways is already gone for the peer; an RST for it would be a protocol error there.
    if (!(this.localFin && this.remoteFin)) this.host.reset(this, status);
    this.settleOpening(new Error(`spdy: stream ${this.id}: reset locally (${rstStatusName(status)})`));
    this.destroy();
  }

  /** @internal The peer's RST_STREAM. */
  peerReset(status: number): void {
    this.terminate(new SpdyStreamResetError(this.id, status));
  }

  /** @internal A stream-level protocol error by the peer: RST_STREAM with status, destroy with the error. */
  fail(status: number, what: string): void {
    if (!this.silenced) this.host.reset(this, status);
    this.terminate(new SpdyProtocolError(what, status, this.id));
  }

  /** @internal The session is closing (cause undefined) or has failed or lost its connection. */
  abort(cause?: string): void {
    this.terminate(cause === undefined ? undefined : new Error(`spdy: stream ${this.id}: ${cause}`));
  }

  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    this.host.consumed(this);
    return chunk;
  }

  override _read(): void {
    this.host.consumed(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.host.data(this, chunk, false).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.host.data(this, Buffer.alloc(0), true).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Destroyed by its user before both sides finished: the peer must learn the stream is gone.
    if (!this.silenced && !(this.localFin && this.remoteFin)) this.host.reset(this, RstStatus.CANCEL);
    this.silenced = true;
    this.host.destroyed(this);
    this.settleOpening(err ?? new Error(`spdy: stream ${this.id}: destroyed before the peer replied`));
    cb(err);
  }

  private terminate(err: Error | undefined): void {
    if (this.destroyed) return;
    this.silenced = true;
    // openStream's caller gets the error from the rejected promise; a stream it never saw must not emit 'error' too.
    if (this.settleOpening(err ?? new Error(`spdy: stream ${this.id}: the session closed before the peer replied`))) this.destroy();
    else this.destroy(err);
  }

  private settleOpening(err: Error): boolean {
    const o = this.opening;
    this.opening = undefined;
    o?.reject(err);
    return o !== undefined;
  }
}
