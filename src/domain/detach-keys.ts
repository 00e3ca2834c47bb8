// Detach keys as Docker and Podman spell them ("ctrl-p,ctrl-q", "ctrl-a,x"),
// and the one matcher that finds the sequence in a client's stdin, for
// attach (gRPC and HTTP) and exec alike. Pure.
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

const NOTHING = Buffer.alloc(0);

/**
 * The one detach-key matcher, for attach (gRPC and HTTP) and exec: finds the
 * first occurrence of the key sequence in a stream of stdin chunks, however
 * the stream is cut. What precedes it is forwarded, the sequence itself and
 * everything after it are not. A possible start of the sequence at the end
 * of a chunk is held back until later bytes tell (Docker's and Podman's
 * term.EscapeProxy hold it the same way); if the sequence does not complete,
 * the held bytes go on, in order, ahead of what follows.
 *
 * A Knuth-Morris-Pratt automaton: `matched` keys are held (they are always
 * keys[0..matched)), and on a mismatch it falls back to the longest held
 * suffix that is still a prefix of the keys, so with keys "aab" the input
 * "aaab" detaches (forwarding "a") instead of losing the overlap.
 */
export class DetachMatcher {
  private readonly fallback: number[];
  private matched = 0;
  private seen = false;

  constructor(private readonly keys: Buffer) {
    // fallback[j]: the longest proper prefix of keys[0..j] that is also its suffix.
    this.fallback = new Array<number>(keys.length).fill(0);
    for (let j = 1, k = 0; j < keys.length; j++) {
      while (k > 0 && keys[j] !== keys[k]) k = this.fallback[k - 1] ?? 0;
      if (keys[j] === keys[k]) k++;
      this.fallback[j] = k;
    }
  }

  /** The sequence has been seen: the client detached. */
  get detached(): boolean {
    return this.seen;
  }

  /** Scans one chunk: what to forward now, and whether the sequence completed in it. */
  push(chunk: Buffer): ScanResult {
    if (this.seen) return { forward: NOTHING, detached: true };
    const keys = this.keys;
    if (keys.length === 0) return { forward: chunk, detached: false };
    const first = keys[0];
    const parts: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.matched === 0) {
        // Ordinary input up to the next byte that could start the sequence.
        const next = chunk.indexOf(first as number, i);
        if (next < 0) {
          parts.push(chunk.subarray(i));
          break;
        }
        if (next > i) parts.push(chunk.subarray(i, next));
        i = next;
      }
      const byte = chunk[i++];
      let k = this.matched;
      while (k > 0 && byte !== keys[k]) k = this.fallback[k - 1] ?? 0;
      // What no longer fits: the oldest held bytes, ordinary input after all.
      if (this.matched > k) parts.push(keys.subarray(0, this.matched - k));
      if (byte === keys[k]) k++;
      else parts.push(chunk.subarray(i - 1, i));
      this.matched = k;
      if (k === keys.length) {
        this.seen = true;
        this.matched = 0;
        return { forward: Buffer.concat(parts), detached: true };
      }
    }
    return { forward: Buffer.concat(parts), detached: false };
  }

  /** push() for callers that read `detached` afterwards: the bytes to forward for this chunk. */
  feed(chunk: Buffer): Buffer {
    return this.push(chunk).forward;
  }

  /** The held-back prefix, released when stdin ends without the sequence. */
  flush(): Buffer {
    const out = Buffer.from(this.keys.subarray(0, this.matched));
    this.matched = 0;
    return out;
  }
}
