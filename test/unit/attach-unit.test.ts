// The pure parts of attach: detach keys and their scanner, conmon's packet
// framing, the bounded client queue, and the open/size validation.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AttachOpen, OutputStream, type AttachContainerResponse } from "../../src/gen/hull/v1/container.js";
import { HullError } from "../../src/errors.js";
import { DetachMatcher as DetachScanner, parseDetachKeys } from "../../src/domain/detach-keys.js";
import { ClientOutput } from "../../src/ops/attach-output.js";
import { parseAttachOpen } from "../../src/validation/requests.js";
import { checkTerminalSize } from "../../src/validation/rules.js";
import { STDIN_PACKET, decodePacket, stdinPackets } from "../../src/oci/attach.js";

function invalid(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => e instanceof HullError && e.reason === "INVALID_ARGUMENT" && e.message.includes(field));
}

describe("detach keys", () => {
  it("parses Docker's spelling", () => {
    assert.deepEqual([...parseDetachKeys("")], [0x10, 0x11]);
    assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [0x10, 0x11]);
    assert.deepEqual([...parseDetachKeys("ctrl-a,x")], [0x01, 0x78]);
    assert.deepEqual([...parseDetachKeys("CTRL-Z,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")], [26, 0, 27, 28, 29, 30, 31]);
    assert.equal(parseDetachKeys("none").length, 0);
    for (const bad of ["ctrl-", "ctrl-1", "alt-x", "ab", "x,,y", "é"]) invalid(() => parseDetachKeys(bad), "detach_keys");
  });

  it("forwards what precedes the sequence and holds a prefix across chunks", () => {
    const s = new DetachScanner(parseDetachKeys("ctrl-p,ctrl-q"));
    assert.deepEqual(s.push(Buffer.from("ab\x10")), { forward: Buffer.from("ab"), detached: false });
    assert.deepEqual(s.push(Buffer.from("c")), { forward: Buffer.from("\x10c"), detached: false }, "a broken prefix is ordinary input");
    assert.deepEqual(s.push(Buffer.from("d\x10")), { forward: Buffer.from("d"), detached: false });
    assert.deepEqual(s.push(Buffer.from("\x11tail")), { forward: Buffer.alloc(0), detached: true });
    assert.deepEqual(s.push(Buffer.from("more")), { forward: Buffer.alloc(0), detached: true });
  });

  it("finds a sequence whose prefix repeats, and flushes a held prefix at the end", () => {
    const s = new DetachScanner(Buffer.from("aab"));
    assert.deepEqual(s.push(Buffer.from("xaaab")), { forward: Buffer.from("xa"), detached: true });
    const t = new DetachScanner(parseDetachKeys("ctrl-p,ctrl-q"));
    assert.deepEqual(t.push(Buffer.from("\x10\x10")), { forward: Buffer.from("\x10"), detached: false });
    assert.deepEqual(t.flush(), Buffer.from("\x10"));
    const none = new DetachScanner(parseDetachKeys("none"));
    assert.deepEqual(none.push(Buffer.from("\x10\x11")), { forward: Buffer.from("\x10\x11"), detached: false });
  });
});

describe("conmon's attach packets", () => {
  it("decodes the stream byte", () => {
    assert.deepEqual(decodePacket(Buffer.from("\x02out")), { stream: "stdout", data: Buffer.from("out") });
    assert.deepEqual(decodePacket(Buffer.from("\x03err")), { stream: "stderr", data: Buffer.from("err") });
    assert.throws(() => decodePacket(Buffer.from("\x01x")), /unknown stream 1/);
    assert.throws(() => decodePacket(Buffer.alloc(0)), /empty/);
  });

  it("cuts stdin into non-empty packets conmon reads whole", () => {
    assert.deepEqual(stdinPackets(Buffer.alloc(0)), []);
    const big = Buffer.alloc(STDIN_PACKET * 2 + 5, 1);
    assert.deepEqual(
      stdinPackets(big).map((p) => p.length),
      [STDIN_PACKET, STDIN_PACKET, 5],
    );
  });
});

describe("the client queue", () => {
  const collect = (): { sent: AttachContainerResponse[]; done: Array<() => void>; write: (m: AttachContainerResponse, d: () => void) => void } => {
    const sent: AttachContainerResponse[] = [];
    const done: Array<() => void> = [];
    return { sent, done, write: (m, d) => (sent.push(m), done.push(d)) };
  };
  const kinds = (sent: AttachContainerResponse[]): string[] =>
    sent.map((m) => (m.message?.$case === "output" ? `${m.message.value.stream}:${m.message.value.data.toString()}` : String(m.message?.$case)));

  it("holds output until opened, merges a stream's packets and keeps order with control messages", () => {
    const c = collect();
    const out = new ClientOutput(c.write, () => assert.fail("no overflow"), "test", 100);
    out.output(OutputStream.OUTPUT_STREAM_STDOUT, Buffer.from("a"));
    out.flush();
    assert.equal(c.sent.length, 0, "nothing before open");
    out.open({ message: { $case: "detached", value: false } });
    out.output(OutputStream.OUTPUT_STREAM_STDOUT, Buffer.from("b"));
    out.output(OutputStream.OUTPUT_STREAM_STDERR, Buffer.from("c"));
    out.control({ message: { $case: "exitCode", value: 1 } });
    out.flush();
    assert.deepEqual(kinds(c.sent), ["detached", `${OutputStream.OUTPUT_STREAM_STDOUT}:ab`, `${OutputStream.OUTPUT_STREAM_STDERR}:c`, "exitCode"]);
    assert.equal(out.waiting, 3);
    for (const d of c.done) d();
    assert.equal(out.waiting, 0);
  });

  it("drops the client past its limit, and lets a patient source wait", async () => {
    const c = collect();
    let dropped: HullError | undefined;
    const out = new ClientOutput(c.write, (e) => (dropped = e), "attach to container x", 10);
    out.open({ message: { $case: "detached", value: false } });
    out.output(OutputStream.OUTPUT_STREAM_STDOUT, Buffer.alloc(8));
    out.flush();
    let woke = false;
    const waiting = out.below(4).then(() => (woke = true));
    await Promise.resolve();
    assert.equal(woke, false);
    c.done[1]?.();
    await waiting;
    out.output(OutputStream.OUTPUT_STREAM_STDOUT, Buffer.alloc(8));
    out.output(OutputStream.OUTPUT_STREAM_STDOUT, Buffer.alloc(8));
    assert.equal(dropped?.reason, "RESOURCE_EXHAUSTED");
    assert.match(dropped?.message ?? "", /attach to container x/);
  });
});

/** ops/resize.ts's validateSize(size, field), now the one rule in validation/rules.ts (field first). */
const validateSize = (size: { height: number; width: number } | undefined, field: string): { height: number; width: number } => checkTerminalSize(field, size);

describe("attach validation", () => {
  it("checks the open message", () => {
    const o = parseAttachOpen(AttachOpen.fromPartial({ id: "c", logs: true, stream: false }));
    assert.equal(o.stream, false);
    assert.equal(o.streams, undefined, "no streams named: all of them");
    assert.deepEqual(parseAttachOpen(AttachOpen.fromPartial({ id: "c", stderr: true })).streams, { stdin: false, stdout: false, stderr: true });
    invalid(() => parseAttachOpen(AttachOpen.fromPartial({ id: "" })), "open.id");
    invalid(() => parseAttachOpen(AttachOpen.fromPartial({ id: "c", stream: false })), "open.stream");
    invalid(() => parseAttachOpen(AttachOpen.fromPartial({ id: "c", detachKeys: "bogus" })), "open.detach_keys");
  });

  it("checks terminal sizes", () => {
    assert.deepEqual(validateSize({ height: 24, width: 80 }, "size"), { height: 24, width: 80 });
    invalid(() => validateSize(undefined, "size"), "size");
    invalid(() => validateSize({ height: 0, width: 80 }, "size"), "size.height");
    invalid(() => validateSize({ height: 24, width: 65536 }, "resize"), "resize.width");
  });
});
