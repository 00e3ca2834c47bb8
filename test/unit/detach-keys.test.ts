// The one detach-key matcher (src/domain/detach-keys.ts), used by attach
// (gRPC and HTTP) and exec: fast-check properties against a reference that
// sees the whole input at once, under random chunking, plus the overlapping
// sequence that the exec path's own matcher used to miss.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { DetachMatcher, parseDetachKeys } from "../../src/domain/detach-keys.js";

/** The reference: the first occurrence of the keys in all the input; what precedes it is forwarded. */
function reference(keys: Buffer, input: Buffer): { forward: Buffer; detached: boolean; end?: number } {
  if (keys.length === 0) return { forward: input, detached: false };
  const at = input.indexOf(keys);
  if (at < 0) return { forward: input, detached: false };
  return { forward: input.subarray(0, at), detached: true, end: at + keys.length };
}

/** The longest suffix of seen that is a proper prefix of keys: what a matcher may still hold back. */
function heldPart(keys: Buffer, seen: Buffer): number {
  for (let k = Math.min(keys.length - 1, seen.length); k > 0; k--) {
    if (seen.subarray(seen.length - k).equals(keys.subarray(0, k))) return k;
  }
  return 0;
}

/** Cuts input at the given sizes (cycled), so every byte lands in exactly one chunk. */
function chunked(input: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < input.length; i++) {
    const n = sizes.length === 0 ? input.length : (sizes[i % sizes.length] ?? 1);
    out.push(input.subarray(at, at + n));
    at += n;
  }
  return out;
}

// A small alphabet, mostly two letters, so sequences overlap themselves ("a,a,b", "a,b,a").
const keyName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("a", "b") }, { weight: 1, arbitrary: fc.constantFrom("ctrl-a", "ctrl-p", "ctrl-q") });
const keySpec = fc.array(keyName, { minLength: 1, maxLength: 5 }).map((k) => k.join(","));
const inputByte = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0x61, 0x62, 0x01, 0x10, 0x11) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) });
/**
 * Keys and an input made of pieces of them (prefixes, the whole sequence)
 * and other bytes: near misses and overlaps, the cases a matcher gets wrong,
 * are the common case here rather than a rare draw.
 */
const keysAndInput = keySpec.chain((spec) => {
  const keys = parseDetachKeys(spec);
  const piece = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 1, max: keys.length }).map((n) => keys.subarray(0, n)) },
    { weight: 2, arbitrary: inputByte.map((b) => Buffer.of(b)) },
  );
  return fc.tuple(
    fc.constant(spec),
    fc.array(piece, { maxLength: 16 }).map((p) => Buffer.concat(p)),
  );
});
const inputBytes = fc.array(inputByte, { maxLength: 60 }).map((b) => Buffer.from(b));
// Sizes 0..7: empty chunks happen (a zero-length stdin message) and so does byte-at-a-time.
const chunkSizes = fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 12 }).filter((s) => s.length === 0 || s.some((n) => n > 0));

/** Runs input through one matcher as attach does (push; flush when stdin ends). */
function runPush(keys: Buffer, chunks: readonly Buffer[]): { forward: Buffer; detached: boolean; detachedAt?: number; afterEach: Buffer[] } {
  const m = new DetachMatcher(keys);
  const parts: Buffer[] = [];
  const afterEach: Buffer[] = [];
  let consumed = 0;
  for (const chunk of chunks) {
    const r = m.push(chunk);
    consumed += chunk.length;
    parts.push(r.forward);
    afterEach.push(Buffer.concat(parts));
    if (r.detached) return { forward: Buffer.concat(parts), detached: true, detachedAt: consumed, afterEach };
  }
  parts.push(m.flush());
  return { forward: Buffer.concat(parts), detached: false, afterEach };
}

/** The same through feed() and the detached flag. */
function runFeed(keys: Buffer, chunks: readonly Buffer[]): { forward: Buffer; detached: boolean } {
  const m = new DetachMatcher(keys);
  const parts: Buffer[] = [];
  for (const chunk of chunks) {
    parts.push(m.feed(chunk));
    if (m.detached) return { forward: Buffer.concat(parts), detached: true };
  }
  parts.push(m.flush());
  return { forward: Buffer.concat(parts), detached: false };
}

describe("the detach-key matcher", () => {
  it("forwards exactly what precedes the first occurrence, and detaches exactly when the reference does, however the input is cut", () => {
    fc.assert(
      fc.property(keysAndInput, chunkSizes, ([spec, input], sizes) => {
        const keys = parseDetachKeys(spec);
        const chunks = chunked(input, sizes);
        const want = reference(keys, input);
        const got = runPush(keys, chunks);
        assert.deepEqual(got.forward, want.forward);
        assert.equal(got.detached, want.detached);
        if (want.end !== undefined) {
          // In the chunk that holds the sequence's last byte: no sooner, no later.
          let chunkEnd = 0;
          for (const c of chunks) if (chunkEnd < want.end) chunkEnd += c.length;
          assert.equal(got.detachedAt, chunkEnd);
        }
        assert.deepEqual(runFeed(keys, chunks), { forward: want.forward, detached: want.detached });
      }),
      { numRuns: 2000 },
    );
  });

  it("holds back only a possible start of the sequence, and releases it as soon as the match fails", () => {
    fc.assert(
      fc.property(keysAndInput, chunkSizes, ([spec, input], sizes) => {
        const keys = parseDetachKeys(spec);
        const chunks = chunked(input, sizes);
        const got = runPush(keys, chunks);
        let seen = 0;
        for (const [i, forwarded] of got.afterEach.entries()) {
          seen += chunks[i]?.length ?? 0;
          if (got.detached && i === got.afterEach.length - 1) break;
          const soFar = input.subarray(0, seen);
          // Everything but the held part is out, in order; nothing is forwarded early.
          assert.deepEqual(forwarded, soFar.subarray(0, soFar.length - heldPart(keys, soFar)));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('with keys "a,a,b", "xaaab" detaches forwarding only what precedes the sequence, in one chunk or cut anywhere', () => {
    const keys = parseDetachKeys("a,a,b");
    const input = Buffer.from("xaaab");
    // The attach path (push) and the exec path (feed, then detached) alike; every way to cut it in two or byte by byte.
    const cuts: Buffer[][] = [[input], [...input].map((b) => Buffer.of(b))];
    for (let i = 1; i < input.length; i++) cuts.push([input.subarray(0, i), input.subarray(i)]);
    for (const chunks of cuts) {
      const what = chunks.map((c) => c.toString()).join("|");
      assert.deepEqual(runPush(keys, chunks).forward, Buffer.from("xa"), what);
      assert.equal(runPush(keys, chunks).detached, true, what);
      assert.deepEqual(runFeed(keys, chunks), { forward: Buffer.from("xa"), detached: true }, what);
    }
    const m = new DetachMatcher(keys);
    assert.deepEqual(m.push(Buffer.from("xaa")), { forward: Buffer.from("x"), detached: false });
    assert.deepEqual(m.push(Buffer.from("a")), { forward: Buffer.from("a"), detached: false }, "the oldest held a is released, two stay held");
    assert.deepEqual(m.push(Buffer.from("b")), { forward: Buffer.alloc(0), detached: true });
  });

  it('forwards everything with "none", and nothing once detached', () => {
    fc.assert(
      fc.property(inputBytes, chunkSizes, (input, sizes) => {
        const got = runPush(parseDetachKeys("none"), chunked(input, sizes));
        assert.deepEqual(got.forward, input);
        assert.equal(got.detached, false);
      }),
    );
    const m = new DetachMatcher(parseDetachKeys(""));
    assert.equal(m.push(Buffer.from("\x10\x11")).detached, true);
    assert.deepEqual(m.push(Buffer.from("more")), { forward: Buffer.alloc(0), detached: true });
    assert.deepEqual(m.flush(), Buffer.alloc(0));
  });
});
