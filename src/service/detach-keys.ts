// Detach keys as Docker and Podman spell them: a comma-separated list of
// single characters or "ctrl-X" (X one of a-z @ [ \ ] ^ _), default
// "ctrl-p,ctrl-q". Pure, so the parsing and the matching across chunk
// boundaries are unit-tested.
import { invalidArgument } from "../errors.js";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/** The byte sequence for a detach-keys spec; "" means the default. */
export function parseDetachKeys(spec: string, field = "detach_keys"): Buffer {
  const text = spec === "" ? DEFAULT_DETACH_KEYS : spec;
  const out: number[] = [];
  for (const part of text.split(",")) {
    const key = part.toLowerCase();
    if (key.startsWith("ctrl-") && key.length === 6) {
      const c = key.charCodeAt(5);
      if (c >= 0x61 && c <= 0x7a) out.push(c - 0x60);
      else if (c >= 0x40 && c <= 0x5f) out.push(c - 0x40); // @ [ \ ] ^ _
      else throw invalidArgument(field, `"${part}" is not ctrl- followed by a-z, @, [, \\, ], ^ or _`);
    } else if (part.length === 1 && part.charCodeAt(0) < 0x80) {
      out.push(part.charCodeAt(0));
    } else {
      throw invalidArgument(field, `"${part.slice(0, 20)}" is neither one character nor ctrl-X`);
    }
  }
  return Buffer.from(out);
}

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
