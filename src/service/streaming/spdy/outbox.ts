// A SPDY session's outgoing frames, in order: each is written once the ones
// before it were, a header block's frame once it is compressed, and each
// caller is told when the socket accepted its frame ('drain' when it did not),
// which is how streams feel the connection's backpressure.
import type { Duplex } from "node:stream";

export interface Outgoing {
  frame: Buffer | Promise<Buffer> | "end";
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface OutboxOwner {
  closed(): boolean;
  /** Called for every frame written: the session's idle timer. */
  touch(): void;
  fail(err: Error): void;
}

export class FrameOutbox {
  private readonly queue: Outgoing[] = [];
  private pumping = false;
  /** Set once our side of the connection is ended: later frames are refused. */
  ended = false;

  constructor(
    private readonly socket: Duplex,
    private readonly owner: OutboxOwner,
  ) {}

  enqueue(frame: Outgoing["frame"]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.owner.closed()) return reject(new Error("spdy: the session is closed"));
      this.queue.push({ frame, resolve, reject });
      void this.pump();
    });
  }

  rejectAll(message: string): void {
    for (const item of this.queue.splice(0)) item.reject(new Error(message));
  }

  // Writes queued frames in order; resolves each once the socket accepted it, waiting for 'drain' when it did not.
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.owner.closed()) {
        const item = this.queue[0];
        if (item === undefined) break;
        let buf: Buffer | "end";
        try {
          buf = await item.frame;
        } catch (err) {
          this.queue.shift();
          item.reject(err as Error);
          this.owner.fail(err as Error);
          return;
        }
        this.queue.shift();
        if (this.owner.closed()) {
          item.reject(new Error("spdy: the session is closed"));
          return;
        }
        if (buf === "end") {
          if (!this.ended) this.socket.end();
          this.ended = true;
          item.resolve();
          continue;
        }
        if (this.ended) {
          item.reject(new Error("spdy: frame not sent: the connection is ended"));
          continue;
        }
        this.owner.touch();
        if (!this.socket.write(buf)) await this.drained();
        item.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }
}
