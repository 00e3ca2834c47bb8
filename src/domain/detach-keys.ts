// Detach keys as Docker and Podman spell them ("ctrl-p,ctrl-q", "ctrl-a,x"),
// and the scanner that finds the sequence in a client's stdin. Pure.
import { invalidArgument } from "../errors.js";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

// Docker's term.ToBytes: the control characters beyond ctrl-a..ctrl-z.
const CTRL_SPECIAL: Readonly<Record<string, number>> = { "@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, _: 31 };

/**
 * "" → the default sequence; "none" → no detaching (empty result). Each
 * comma-separated key is one character or ctrl-<a..z @ [ \ ] ^ _>.
 */
export function parseDetachKeys(spec: string, field = "detach_keys"): Buffer {
  if (spec === "none") return Buffer.alloc(0);
  const text = spec === "" ? DEFAULT_DETACH_KEYS : spec;
  const codes: number[] = [];
  for (const key of text.split(",")) {
    if (key.length === 1) {
      const code = key.charCodeAt(0);
      if (code > 0x7f) throw invalidArgument(field, `"${key}" is not an ASCII key (in "${spec}")`);
      codes.push(code);
      continue;
    }
    const lower = key.toLowerCase();
    const name = lower.startsWith("ctrl-") ? lower.slice(5) : undefined;
    if (name?.length !== 1) {
      throw invalidArgument(field, `"${key}" is not a key: use one character or ctrl-<key>, comma-separated, e.g. "ctrl-p,ctrl-q" (or "none")`);
    }
    const special = CTRL_SPECIAL[name];
    if (special !== undefined) codes.push(special);
    else if (name >= "a" && name <= "z") codes.push(name.charCodeAt(0) - 0x60);
    else throw invalidArgument(field, `"${key}": ctrl- takes a letter or one of @ [ \\ ] ^ _`);
  }
  return Buffer.from(codes);
}

export interface ScanResult {
  /** Bytes for the container's stdin. */
  forward: Buffer;
  /** The sequence was seen: nothing after it is forwarded. */
  detached: boolean;
}

/**
 * Finds the detach sequence across chunk boundaries. A prefix of the
 * sequence at the end of a chunk is held back until the next chunk shows
 * whether the sequence completes; if it does not, the held bytes go on.
 */
export class DetachScanner {
  private held = 0;
  private detached = false;

  constructor(private readonly keys: Buffer) {}

  push(chunk: Buffer): ScanResult {
    if (this.detached) return { forward: Buffer.alloc(0), detached: true };
    if (this.keys.length === 0) return { forward: chunk, detached: false };
    const first = this.keys[0] as number;
    const parts: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.held === 0) {
        // Fast path: ordinary input up to the next possible start of the sequence.
        const next = chunk.indexOf(first, i);
        if (next < 0) {
          parts.push(chunk.subarray(i));
          break;
        }
        parts.push(chunk.subarray(i, next));
        i = next;
      }
      // The longest suffix of (held prefix + byte) that is a prefix of the
      // sequence stays held; what comes before it was ordinary input.
      const candidate = Buffer.concat([this.keys.subarray(0, this.held), chunk.subarray(i, i + 1)]);
      i++;
      let k = candidate.length;
      while (k > 0 && !candidate.subarray(candidate.length - k).equals(this.keys.subarray(0, k))) k--;
      parts.push(candidate.subarray(0, candidate.length - k));
      this.held = k;
      if (k === this.keys.length) {
        this.detached = true;
        this.held = 0;
        return { forward: Buffer.concat(parts), detached: true };
      }
    }
    return { forward: Buffer.concat(parts), detached: false };
  }

  /** The held-back prefix, released when stdin ends without the sequence. */
  flush(): Buffer {
    const out = this.keys.subarray(0, this.held);
    this.held = 0;
    return Buffer.from(out);
  }
}
