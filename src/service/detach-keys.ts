// The detach-key matcher for exec streams. The keys' spelling ("ctrl-p,ctrl-q",
// "none") has one parser, shared with attach: src/lifecycle/detach-keys.ts.
export { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../domain/detach-keys.js";

/**
 * Finds the detach sequence in a stream of input chunks. Bytes that might
 * start the sequence are held back until the next byte tells; when the
 * sequence completes, what preceded it is returned and detached is set.
 */
export class DetachMatcher {
  private matched = 0;
  detached = false;

  constructor(private readonly keys: Buffer) {}

  /** The bytes to pass on for this chunk (nothing once detached). */
  feed(chunk: Buffer): Buffer {
    if (this.detached || this.keys.length === 0) return this.detached ? Buffer.alloc(0) : chunk;
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.detached = true;
          return Buffer.from(out);
        }
        continue;
      }
      // A partial match was ordinary input after all.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i] ?? 0);
      this.matched = 0;
      if (byte === this.keys[0]) {
        this.matched = 1;
        if (this.keys.length === 1) {
          this.detached = true;
          return Buffer.from(out);
        }
      } else {
        out.push(byte);
      }
    }
    return Buffer.from(out);
  }
}
