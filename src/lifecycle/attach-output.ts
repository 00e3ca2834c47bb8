// One attach client's outgoing messages, bounded. conmon writes to its attach
// clients with blocking writes, so hulld reads each conmon connection as fast
// as packets come; a client slower than its container would then grow
// hulld's memory without end. Policy: at most `limit` bytes of output may
// wait for a client (held before the attach opens, queued in the stream, or
// blocked by the client's HTTP/2 flow-control window); past that the client
// is dropped with RESOURCE_EXHAUSTED, and other clients and the container
// carry on. Sources that can wait (the log file) call below() instead, and
// never overflow.
import { HullError } from "../errors.js";
import type { AttachContainerResponse } from "../gen/hull/v1/container.js";

export const CLIENT_QUEUE_LIMIT = 4 * 1024 * 1024;

/** Writes one message; done runs once it has left hulld's buffers (or the stream is gone). */
export type MessageWriter = (msg: AttachContainerResponse, done: () => void) => void;

export class ClientOutput {
  private pending = 0;
  private opened = false;
  private failed = false;
  private held: Array<{ msg: AttachContainerResponse; bytes: number }> = [];
  private waiters: Array<{ bytes: number; wake: () => void }> = [];

  constructor(
    private readonly write: MessageWriter,
    private readonly overflow: (err: HullError) => void,
    private readonly what: string,
    readonly limit = CLIENT_QUEUE_LIMIT,
  ) {}

  /** Bytes of output not yet handed to the client's connection. */
  get waiting(): number {
    return this.pending;
  }

  /** Queues an output frame; output pushed before open() waits behind the first message. */
  output(msg: AttachContainerResponse, bytes: number): void {
    if (this.failed) return;
    this.pending += bytes;
    if (this.pending > this.limit) {
      this.failed = true;
      this.held = [];
      this.overflow(
        new HullError(
          "RESOURCE_EXHAUSTED",
          `${this.what}: the client reads output more slowly than the container writes it (more than ${this.limit} bytes waiting); dropped this client`,
          { limitBytes: String(this.limit) },
        ),
      );
      return;
    }
    if (!this.opened) {
      this.held.push({ msg, bytes });
      return;
    }
    this.write(msg, () => this.release(bytes));
  }

  /** Sends a control message (attached, exit code, detached): not counted against the limit. */
  control(msg: AttachContainerResponse): void {
    if (this.failed) return;
    // Before open() it waits in line behind the output that came first.
    if (!this.opened) this.held.push({ msg, bytes: 0 });
    else this.write(msg, () => undefined);
  }

  /** Sends `first`, then whatever output arrived before it. */
  open(first: AttachContainerResponse): void {
    if (this.opened || this.failed) return;
    this.opened = true;
    this.write(first, () => undefined);
    const held = this.held;
    this.held = [];
    for (const { msg, bytes } of held) this.write(msg, () => this.release(bytes));
  }

  /** Resolves once at most `bytes` are waiting (or the client was dropped). */
  below(bytes: number): Promise<void> {
    if (this.pending <= bytes || this.failed) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ bytes, wake }));
  }

  /** Stops waiters: the session is over. */
  close(): void {
    this.failed = true;
    this.held = [];
    for (const w of this.waiters.splice(0)) w.wake();
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
