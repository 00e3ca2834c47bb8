// One attach client's outgoing messages, bounded.
//
// conmon writes to its attach clients with blocking writes, so hulld reads
// each conmon connection as fast as packets come (node-unix-socket reads in
// a native loop until the socket is empty and hands each packet to JS at
// once). Taking a packet therefore only queues it here; the queue goes out to
// gRPC on the next turn of the event loop, with consecutive packets of one
// stream merged into frames of up to FRAME_BYTES.
//
// Policy: at most `limit` bytes of output may wait for a client (queued here,
// or written to the call and not yet taken by HTTP/2, whose flow-control
// window is the client's reading pace). Past that the client is dropped with
// RESOURCE_EXHAUSTED; other clients and the container carry on, and hulld's
// memory stays bounded. (A start-and-attach client is not dropped: the
// session moves it to the log file, which holds the same bytes — see
// AttachSession.socketOutput.) Sources that can wait (the log file) call below()
// before reading on, and never overflow.
import { HullError } from "../errors.js";
import { OutputStream, type AttachContainerResponse } from "../gen/hull/v1/container.js";

export const CLIENT_QUEUE_LIMIT = 4 * 1024 * 1024;
/**
 * Output frames are merged up to this size (far below gRPC's 4 MiB message
 * limit): per-message costs (encode, HTTP/2 frame headers, the client's
 * decode) are then paid once per 256 KiB, not once per conmon packet.
 */
export const FRAME_BYTES = 256 * 1024;

/**
 * Writes one message; done runs once it has left hulld's buffers (or the
 * stream is gone). headroom: bytes right before an output frame's data that
 * the writer may overwrite (0: none).
 */
export type MessageWriter = (msg: AttachContainerResponse, done: () => void, headroom: number) => void;

type Item = { frame: true; stream: OutputStream; parts: Buffer[]; size: number; headroom: number } | { frame: false; msg: AttachContainerResponse };

export class ClientOutput {
  private pending = 0;
  private opened = false;
  private failed = false;
  private scheduled = false;
  private queue: Item[] = [];
  private waiters: Array<{ bytes: number; wake: () => void }> = [];

  constructor(
    private readonly write: MessageWriter,
    private readonly overflow: (err: HullError) => void,
    private readonly what: string,
    readonly limit = CLIENT_QUEUE_LIMIT,
  ) {}

  /** Bytes of output not yet taken by the client's connection. */
  get waiting(): number {
    return this.pending;
  }

  /** Queues output; before open() it waits behind the first message. */
  output(stream: OutputStream, data: Buffer): void {
    if (!this.take(data)) return;
    const last = this.queue.at(-1);
    if (last?.frame && last.headroom === 0 && last.stream === stream && last.size + data.length <= FRAME_BYTES) {
      const tail = last.parts.at(-1) as Buffer;
      // Consecutive views of one buffer: widen the view instead of concatenating later.
      if (tail.buffer === data.buffer && tail.byteOffset + tail.length === data.byteOffset) {
        last.parts[last.parts.length - 1] = Buffer.from(tail.buffer, tail.byteOffset, tail.length + data.length);
      } else {
        last.parts.push(data);
      }
      last.size += data.length;
    } else {
      this.queue.push({ frame: true, stream, parts: [data], size: data.length, headroom: 0 });
    }
    this.schedule();
  }

  /** Queues one whole frame (LogFramer's), sent as it is with the bytes free before it. */
  frame(stream: OutputStream, data: Buffer, headroom: number): void {
    if (!this.take(data)) return;
    this.queue.push({ frame: true, stream, parts: [data], size: data.length, headroom });
    this.schedule();
  }

  /** Counts output against the limit; false when it is dropped (empty, or the client was dropped now or before). */
  private take(data: Buffer): boolean {
    if (this.failed || data.length === 0) return false;
    this.pending += data.length;
    if (this.pending > this.limit) {
      this.failed = true;
      this.queue = [];
      this.overflow(
        new HullError(
          "RESOURCE_EXHAUSTED",
          `${this.what}: the client reads output more slowly than the container writes it (more than ${this.limit} bytes waiting); dropped this client`,
          { limitBytes: String(this.limit) },
        ),
      );
      return false;
    }
    return true;
  }

  /** Queues a control message (exit code, detached) behind the output before it; not counted against the limit. */
  control(msg: AttachContainerResponse): void {
    if (this.failed) return;
    this.queue.push({ frame: false, msg });
    this.schedule();
  }

  /** Sends `first` ahead of everything queued so far. */
  open(first: AttachContainerResponse): void {
    if (this.opened || this.failed) return;
    this.opened = true;
    this.queue.unshift({ frame: false, msg: first });
    this.schedule();
  }

  /** Writes everything queued now (the call is about to end). */
  flush(): void {
    this.scheduled = false;
    if (this.failed || !this.opened) return;
    const items = this.queue;
    this.queue = [];
    for (const item of items) {
      if (!item.frame) {
        this.write(item.msg, () => undefined, 0);
        continue;
      }
      const data = item.parts.length === 1 ? (item.parts[0] as Buffer) : Buffer.concat(item.parts, item.size);
      const size = item.size;
      this.write({ message: { $case: "output", value: { stream: item.stream, data } } }, () => this.release(size), item.headroom);
    }
  }

  /** Resolves once at most `bytes` are waiting (or the client was dropped). */
  below(bytes: number): Promise<void> {
    if (this.pending <= bytes || this.failed) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ bytes, wake }));
  }

  /** The session is over: drop what is queued and release waiters. */
  close(): void {
    this.failed = true;
    this.queue = [];
    for (const w of this.waiters.splice(0)) w.wake();
  }

  private schedule(): void {
    if (this.scheduled || !this.opened) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private release(bytes: number): void {
    this.pending -= bytes;
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.pending <= w.bytes) w.wake();
      else still.push(w);
    }
    this.waiters = still;
  }
}

/**
 * Bytes LogFramer leaves free before each frame, for the message's own
 * header: tag and length of the frame, of its stream and of its data at most
 * 14 bytes. A writer that encodes the message itself (the gRPC one,
 * service/attach-encode.ts) writes its header there, and the frame's bytes
 * are never copied on their way to gRPC.
 */
export const FRAME_HEADROOM = 16;

/**
 * Copies output out of log records into frames of one stream each, up to
 * FRAME_BYTES: one copy per byte and no Buffer per record. Frames are views
 * of a shared block, FRAME_HEADROOM bytes apart, and a block is only
 * replaced once full, so a follower's small flushes do not each cost one.
 */
export class LogFramer {
  private block = Buffer.allocUnsafe(FRAME_HEADROOM + FRAME_BYTES);
  private start = FRAME_HEADROOM;
  private used = FRAME_HEADROOM;
  private stream: OutputStream = OutputStream.OUTPUT_STREAM_UNSPECIFIED;

  /** @param emit gets each frame and how many bytes before it are free for the writer (FRAME_HEADROOM). */
  constructor(private readonly emit: (stream: OutputStream, data: Buffer, headroom: number) => void) {}

  /** Appends src[from, to) of `stream`. */
  add(stream: OutputStream, src: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (stream !== this.stream) {
      this.flush();
      this.stream = stream;
    }
    if (this.used + n > this.block.length) {
      this.flush();
      this.block = Buffer.allocUnsafe(FRAME_HEADROOM + Math.max(FRAME_BYTES, n));
      this.start = FRAME_HEADROOM;
      this.used = FRAME_HEADROOM;
    }
    // Records are ~100 bytes: a plain loop beats set()'s view per call there.
    if (n < 64) {
      const block = this.block;
      let u = this.used;
      for (let i = from; i < to; i++) block[u++] = src[i] as number;
    } else {
      this.block.set(src.subarray(from, to), this.used);
    }
    this.used += n;
  }

  /** Emits what was added since the last flush. */
  flush(): void {
    if (this.used === this.start) return;
    this.emit(this.stream, this.block.subarray(this.start, this.used), FRAME_HEADROOM);
    this.start = this.used + FRAME_HEADROOM;
    this.used = this.start;
  }
}

export { OutputStream };
