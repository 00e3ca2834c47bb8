// A SPDY/3.1 session over any byte Duplex, shaped to interoperate with
// github.com/moby/spdystream (the kubelet's and kubectl's peer for exec,
// attach and port-forward).
//
// Flow control: spdystream parses WINDOW_UPDATE but drops it unhandled and
// never sends one, so a sender that waited on the peer's window would stall
// after the first 64 KiB to a Go peer. We therefore never block our sends on
// a window; socket backpressure ('drain') is what paces our writes. We do
// send WINDOW_UPDATE (per stream and for the 3.1 session window) as our
// reader consumes data, so flow-controlled peers keep sending, and we stop
// reading the socket while any stream's readable buffer is over its
// highWaterMark, which bounds memory even against peers that ignore windows.
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { SpdyStream, type StreamHost } from "./stream.js";
import { FrameOutbox } from "./outbox.js";

export { SpdyStream };
import { encodeFrame, type Frame, FrameParser, GoAwayStatus, MAX_FRAME_LENGTH, RstStatus, type SettingEntry, SpdyProtocolError } from "./frames.js";
import { firstValues, HeaderCompressor, HeaderDecompressor, type HeaderInput, type HeaderValues, MAX_HEADER_BLOCK } from "./header-block.js";

export interface SpdySessionOptions {
  role: "server" | "client";
  /** No frame in either direction for this long: GOAWAY and close (the kubelet's streamIdleTimeout). 0 = never. */
  idleTimeoutMs?: number;
  maxFrameLength?: number;
  maxHeaderBlock?: number;
  /** Readable highWaterMark of each stream; over it, the socket is paused. */
  streamHighWaterMark?: number;
}

export interface SpdySessionEvents {
  stream: [SpdyStream];
  goaway: [{ status: number; lastGoodStreamId: number }];
  settings: [SettingEntry[]];
  window_update: [{ streamId: number; delta: number }];
  timeout: [];
  error: [Error];
  close: [];
}

/** Largest DATA payload we send; spdystream accepts any length, this keeps one stream from monopolizing the socket. */
export const MAX_DATA_PAYLOAD = 64 * 1024;
/** SPDY/3 initial window; WINDOW_UPDATE is sent once half of it has been consumed. */
const INITIAL_WINDOW = 64 * 1024;

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly parser: FrameParser;
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor: HeaderDecompressor;
  private readonly idle: NodeJS.Timeout | undefined;
  private readonly pings = new Map<number, { start: bigint; resolve: (ms: number) => void; reject: (err: Error) => void }>();
  private readonly outbox: FrameOutbox;
  private readonly inbox: (Frame | SpdyProtocolError)[] = [];
  private readonly blocked = new Set<SpdyStream>();
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private processing = false;
  private sentGoAway = false;
  private receivedGoAway = false;
  private closed = false;
  private readonly host: StreamHost;
  private readonly hwm: number;

  constructor(
    private readonly socket: Duplex,
    readonly options: SpdySessionOptions,
  ) {
    super();
    const client = options.role === "client";
    this.nextStreamId = client ? 1 : 2;
    this.nextPingId = client ? 1 : 2;
    this.parser = new FrameParser(options.maxFrameLength ?? MAX_FRAME_LENGTH);
    this.decompressor = new HeaderDecompressor(options.maxHeaderBlock ?? MAX_HEADER_BLOCK);
    this.hwm = options.streamHighWaterMark ?? INITIAL_WINDOW;
    this.outbox = new FrameOutbox(socket, {
      closed: () => this.closed,
      touch: () => this.touch(),
      fail: (err) => this.fail(err),
    });
    this.host = {
      reply: (s, h) => this.sendReply(s, h),
      data: (s, chunk, fin) => this.sendData(s, chunk, fin),
      reset: (s, status) => this.resetStream(s, status),
      consumed: (s) => this.consumed(s),
      destroyed: (s) => this.forget(s),
    };
    if (options.idleTimeoutMs) this.idle = setTimeout(() => this.onIdle(), options.idleTimeoutMs).unref();
    socket.on("data", (chunk: Buffer) => this.onSocketData(chunk));
    socket.on("end", () => this.onSocketEnd());
    socket.on("error", (err: Error) => this.fail(err));
    socket.on("close", () => this.teardown(undefined, "the connection closed"));
  }

  /** Streams not yet closed both ways (or reset). */
  get openStreams(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens a stream (client ids odd, server ids even); resolves on the peer's SYN_REPLY, rejects on its RST_STREAM. */
  openStream(headers: HeaderInput = {}): Promise<SpdyStream> {
    if (this.closed) return Promise.reject(new Error("spdy: cannot open a stream: the session is closed"));
    if (this.sentGoAway || this.receivedGoAway) return Promise.reject(new Error("spdy: cannot open a stream after GOAWAY"));
    const id = this.nextStreamId;
    if (id > 0x7fffffff) return Promise.reject(new Error("spdy: stream ids exhausted"));
    this.nextStreamId += 2;
    const values: HeaderValues = {};
    for (const [k, v] of Object.entries(headers)) values[k.toLowerCase()] = typeof v === "string" ? [v] : [...v];
    const s = new SpdyStream(this.host, id, values, false, this.hwm);
    this.streams.set(id, s);
    const opened = new Promise<SpdyStream>((resolve, reject) => (s.opening = { resolve, reject }));
    const block = this.compressor.compress(headers);
    this.outbox
      .enqueue(block.then((headerBlock) => encodeFrame({ type: "syn_stream", streamId: id, associatedId: 0, priority: 0, slot: 0, flags: 0, headerBlock })))
      .catch((err: Error) => this.fail(err));
    return opened;
  }

  /** Sends a PING; resolves with the round trip in milliseconds. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new Error("spdy: cannot ping: the session is closed"));
    const id = this.nextPingId;
    this.nextPingId = id + 2 > 0x7fffffff ? id - 0x7ffffffe : id + 2;
    return new Promise((resolve, reject) => {
      this.pings.set(id, { start: process.hrtime.bigint(), resolve, reject });
      this.control({ type: "ping", id });
    });
  }

  /** Tells the peer we accept no new streams; streams already open continue. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.sentGoAway || this.closed) return;
    this.sentGoAway = true;
    this.control({ type: "goaway", lastGoodStreamId: this.lastPeerStreamId, status });
  }

  /** GOAWAY OK, FIN on every stream still writable, then end the socket; resolves on "close". */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.closed ? resolve() : this.once("close", resolve)));
    if (this.closed) return closed;
    this.goAway(GoAwayStatus.OK);
    for (const s of [...this.streams.values()]) {
      if (!s.localFin) this.control({ type: "data", streamId: s.id, flags: 1, data: Buffer.alloc(0) });
      s.localFin = true;
      s.abort();
    }
    this.outbox.enqueue("end").catch((err: Error) => this.fail(err));
    return closed;
  }

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    this.touch();
    const { frames, error } = this.parser.pushSome(chunk);
    for (const f of frames) this.inbox.push(f);
    // After the frames that preceded it, so a stream they opened is failed with the session rather than never seen.
    if (error) this.inbox.push(error);
    void this.processInbox();
  }

  private onSocketEnd(): void {
    if (this.closed) return;
    try {
      this.parser.finish();
    } catch (err) {
      this.inbox.push(err as SpdyProtocolError);
      void this.processInbox();
      return;
    }
    // The peer will send nothing more; finish our side too rather than leave a half-open socket.
    if (!this.closed) this.outbox.enqueue("end").catch(() => this.teardown(undefined, "the peer ended the connection"));
  }

  // Frames are handled strictly in arrival order: a header block must inflate before the next one, and a
  // SYN_STREAM must exist before its DATA, so processing waits on each decode.
  private async processInbox(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.inbox.length > 0 && !this.closed) {
        const f = this.inbox.shift() as Frame | SpdyProtocolError;
        if (f instanceof SpdyProtocolError) throw f;
        if (f.type === "syn_stream" || f.type === "syn_reply" || f.type === "headers") {
          const h = await this.decompressor.decompress(f.headerBlock, f.streamId);
          if (!this.closed) this.onHeaderFrame(f, h);
        } else this.onFrame(f);
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.processing = false;
    }
  }

  private onHeaderFrame(f: Frame & { type: "syn_stream" | "syn_reply" | "headers" }, h: HeaderValues): void {
    const fin = (f.flags & 1) !== 0;
    if (f.type === "syn_stream") {
      const peerParity = this.options.role === "server" ? 1 : 0;
      if (f.streamId % 2 !== peerParity || f.streamId <= this.lastPeerStreamId) {
        throw new SpdyProtocolError(`SYN_STREAM id ${f.streamId} is not a new stream id of the peer`, RstStatus.PROTOCOL_ERROR, f.streamId);
      }
      this.lastPeerStreamId = f.streamId;
      if (this.sentGoAway || this.receivedGoAway) return this.control({ type: "rst_stream", streamId: f.streamId, status: RstStatus.REFUSED_STREAM });
      const s = new SpdyStream(this.host, f.streamId, h, true, this.hwm);
      this.streams.set(f.streamId, s);
      if ((f.flags & 2) !== 0) s.localFin = true;
      if (fin) this.remoteFinish(s);
      if (this.listenerCount("stream") === 0) return s.reset(RstStatus.REFUSED_STREAM);
      this.emit("stream", s);
      return;
    }
    const s = this.streams.get(f.streamId);
    if (!s) return;
    if (f.type === "syn_reply") {
      if (s.inbound || s.replied) return s.fail(RstStatus.STREAM_IN_USE, "a second SYN_REPLY");
      s.replied = true;
      s.replyHeaders = firstValues(h);
      s.opening?.resolve(s);
      s.opening = undefined;
    } else s.emit("headers", firstValues(h));
    if (fin) this.remoteFinish(s);
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case "data": {
        const s = this.streams.get(f.streamId);
        if (!s) {
          const ours = f.streamId % 2 === this.nextStreamId % 2;
          // Data for a stream we closed or reset is expected in flight; data for an id never opened is not.
          if (ours ? f.streamId >= this.nextStreamId : f.streamId > this.lastPeerStreamId) {
            this.control({ type: "rst_stream", streamId: f.streamId, status: RstStatus.INVALID_STREAM });
          }
          return;
        }
        if (s.remoteFin) return s.fail(RstStatus.STREAM_ALREADY_CLOSED, "DATA after FIN");
        if (f.data.length > 0) {
          s.received += f.data.length;
          if (!s.push(f.data)) this.block(s);
          this.consumed(s);
        }
        if ((f.flags & 1) !== 0) this.remoteFinish(s);
        return;
      }
      case "rst_stream": {
        const s = this.streams.get(f.streamId);
        if (s) s.peerReset(f.status);
        return;
      }
      case "settings":
        this.emit("settings", f.settings);
        return;
      case "ping": {
        if (f.id % 2 !== this.nextPingId % 2) return this.control({ type: "ping", id: f.id });
        const p = this.pings.get(f.id);
        this.pings.delete(f.id);
        p?.resolve(Number(process.hrtime.bigint() - p.start) / 1e6);
        return;
      }
      case "goaway":
        return this.onGoAway(f.status, f.lastGoodStreamId);
      case "window_update":
        // Not enforced on our sends (see the top of this file); surfaced for observability and tests.
        this.emit("window_update", { streamId: f.streamId, delta: f.delta });
        return;
      default:
        return;
    }
  }

  private onGoAway(status: number, lastGoodStreamId: number): void {
    this.receivedGoAway = true;
    for (const s of [...this.streams.values()]) {
      if (!s.inbound && s.id > lastGoodStreamId) s.peerReset(RstStatus.REFUSED_STREAM);
    }
    this.emit("goaway", { status, lastGoodStreamId });
    // Like spdystream's shutdown: once the peer has gone away and our streams are done, the connection is.
    this.closeIfDone();
  }

  private closeIfDone(): void {
    if (this.receivedGoAway && this.streams.size === 0 && !this.closed) void this.close();
  }

  private remoteFinish(s: SpdyStream): void {
    s.remoteFin = true;
    s.push(null);
    this.unblock(s);
    if (s.localFin) this.forget(s);
  }

  private consumed(s: SpdyStream): void {
    if (s.readableLength < this.hwm) this.unblock(s);
    if (s.remoteFin || this.closed) return;
    const delta = s.received - s.readableLength - s.acked;
    if (delta >= INITIAL_WINDOW / 2 || (delta > 0 && s.readableLength === 0)) {
      s.acked += delta;
      this.control({ type: "window_update", streamId: s.id, delta });
      this.control({ type: "window_update", streamId: 0, delta });
    }
  }

  private block(s: SpdyStream): void {
    if (this.blocked.size === 0) this.socket.pause();
    this.blocked.add(s);
  }

  private unblock(s: SpdyStream): void {
    if (this.blocked.delete(s) && this.blocked.size === 0 && !this.closed) this.socket.resume();
  }

  private forget(s: SpdyStream): void {
    this.unblock(s);
    if (this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    this.closeIfDone();
  }

  private resetStream(s: SpdyStream, status: number): void {
    this.control({ type: "rst_stream", streamId: s.id, status });
    this.forget(s);
  }

  private sendReply(s: SpdyStream, headers: HeaderInput): void {
    if (this.closed) return;
    const block = this.compressor.compress(headers);
    this.outbox
      .enqueue(block.then((headerBlock) => encodeFrame({ type: "syn_reply", streamId: s.id, flags: 0, headerBlock })))
      .catch((err: Error) => this.fail(err));
  }

  private sendData(s: SpdyStream, chunk: Buffer, fin: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`spdy: stream ${s.id}: the session is closed`));
    if (s.localFin) return Promise.reject(new Error(`spdy: stream ${s.id}: write after FIN`));
    // A server stream used before reply() is replied to implicitly, since spdystream drops DATA before SYN_REPLY.
    if (s.inbound && !s.replied) s.reply();
    const sent: Promise<void>[] = [];
    for (let at = 0; at < chunk.length || (fin && at === 0); at += MAX_DATA_PAYLOAD) {
      const data = chunk.subarray(at, at + MAX_DATA_PAYLOAD);
      const last = at + MAX_DATA_PAYLOAD >= chunk.length;
      sent.push(this.outbox.enqueue(encodeFrame({ type: "data", streamId: s.id, flags: fin && last ? 1 : 0, data })));
    }
    if (fin) {
      s.localFin = true;
      if (s.remoteFin) this.forget(s);
    }
    return Promise.all(sent).then(() => undefined);
  }

  /** Fire-and-forget control frame; a failure to send can only mean the session is failing, which fail() reports once. */
  private control(f: Frame): void {
    // Once our side is ended (close(), or the peer's EOF) a late control frame has no one to go to; the 'close' that
    // follows tears the session down. Any other failure to send is the session failing.
    this.outbox.enqueue(encodeFrame(f)).catch((err: Error) => this.outbox.ended || this.fail(err));
  }

  private touch(): void {
    // refresh() would re-arm a cleared timer.
    if (!this.closed) this.idle?.refresh();
  }

  private onIdle(): void {
    if (this.closed) return;
    this.emit("timeout");
    void this.close();
  }

  /** A protocol or socket error: GOAWAY (best effort), destroy the socket, "error", then "close". */
  private fail(err: Error): void {
    if (this.closed) return;
    if (!this.socket.destroyed && this.socket.writable) {
      const status = err instanceof SpdyProtocolError ? GoAwayStatus.PROTOCOL_ERROR : GoAwayStatus.INTERNAL_ERROR;
      // Bypasses the outbox, which may be waiting on 'drain' or on a header block; frame boundaries are intact since
      // the outbox only ever holds whole frames not yet written.
      // end()'s callback never comes if the peer stops reading; the socket must not outlive the session by much.
      const fallback = setTimeout(() => this.socket.destroy(), 1000).unref();
      this.socket.end(encodeFrame({ type: "goaway", lastGoodStreamId: this.lastPeerStreamId, status }), () => {
        clearTimeout(fallback);
        this.socket.destroy();
      });
    } else this.socket.destroy();
    this.teardown(err, `session failed: ${err.message}`);
  }

  private teardown(err: Error | undefined, streamCause: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idle) clearTimeout(this.idle);
    for (const p of this.pings.values()) p.reject(new Error(`spdy: ping unanswered: ${streamCause}`));
    this.pings.clear();
    this.outbox.rejectAll(`spdy: frame not sent: ${streamCause}`);
    this.inbox.length = 0;
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s.abort(streamCause);
    this.blocked.clear();
    this.compressor.close();
    this.decompressor.close();
    if (err) this.emit("error", err);
    this.emit("close");
  }
}
