// Attach to tty containers: ResizeTerminal (RPC and stream message) as the
// container sees it (`stty size`), detach and re-attach keeping the
// terminal's input, and ResizeTerminal's refusals.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, type Api } from "../helpers/api.js";
import { S, assertState, create, createStarted, inspect, waitExited } from "../helpers/fixtures.js";
import { openAttach, type AttachClient } from "../helpers/attach.js";

// The shell echoes what it is sent; "$((6*7))" only becomes 42 in its output.
const SIZE_COMMAND = 'echo "[$((6*7))] $(stty size)"\n';
const SIZE_ANSWER = /\[42\] (\d+) (\d+)/g;
// conmon applies a resize from its control FIFO while the shell may already
// be reading the next command: ask again until the answer shows it.
const ATTEMPTS = 20;

async function sizeSeen(a: AttachClient, height: number, width: number): Promise<void> {
  let seen = "";
  for (let i = 0; i < ATTEMPTS; i++) {
    const before = [...a.result.stdout.matchAll(SIZE_ANSWER)].length;
    a.stdin(SIZE_COMMAND);
    const r = await a.until("stty's answer", (x) => [...x.stdout.matchAll(SIZE_ANSWER)].length > before);
    const m = [...r.stdout.matchAll(SIZE_ANSWER)][before];
    seen = `${m?.[1]} ${m?.[2]}`;
    if (seen === `${height} ${width}`) return;
  }
  assert.fail(`the container's terminal stayed ${seen}, expected ${height} ${width}`);
}

describe("attach with a tty", () => {
  const s = daemonSuite({ daemon: { logLevel: "warn" } });
  const api = (): Api => s.d.api;

  it("resizes the terminal the container sees, by RPC and by stream message", async () => {
    const c = await create(api(), s.rootfs, ["sh"], { tty: true, stdin: true });
    s.made.push(c.id);
    const a = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true, stderr: true, start: true });
    await a.until("attached", (r) => r.attached !== undefined);
    await api().resizeTerminal({ id: c.id, size: { height: 40, width: 100 } });
    await sizeSeen(a, 40, 100);
    a.resize(30, 90);
    await sizeSeen(a, 30, 90);
    a.stdin("exit 0\n");
    const r = await a.finished;
    assert.equal(r.error, undefined, r.error?.details);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stderr, "", "a tty's output is all stdout");
  });

  it("detaches with ctrl-p ctrl-q and lets a later attach type into the same terminal", async () => {
    const c = await create(api(), s.rootfs, ["sh"], { tty: true, stdin: true });
    s.made.push(c.id);
    const a = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true, start: true });
    await a.until("attached", (r) => r.attached !== undefined);
    a.stdin('echo "[$((6*7+1))]"\n');
    await a.until("the first answer", (r) => r.stdout.includes("[43]"));
    a.stdin("\x10\x11");
    const r = await a.finished;
    assert.equal(r.error, undefined, r.error?.details);
    assert.equal(r.detached, true);
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_RUNNING);

    const b = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true });
    await b.until("attached", (x) => x.attached !== undefined);
    b.stdin('echo "[$((6*7+2))]"\n');
    await b.until("the answer after re-attaching", (x) => x.stdout.includes("[44]"));
    b.stdin("exit 3\n");
    const rb = await b.finished;
    assert.equal(rb.error, undefined, rb.error?.details);
    assert.equal(rb.exitCode, 3);
  });

  it("refuses to resize containers without a terminal, not running, or with a bad size", async () => {
    const FP = grpc.status.FAILED_PRECONDITION;
    const INVALID = grpc.status.INVALID_ARGUMENT;
    const plain = await createStarted(api(), s.rootfs, ["sleep", "1000"]);
    s.made.push(plain.id);
    await assertGrpcError(api().resizeTerminal({ id: plain.id, size: { height: 10, width: 10 } }), FP, "CONTAINER_STATE_INVALID", ["no terminal"]);

    const tty = await create(api(), s.rootfs, ["true"], { tty: true });
    s.made.push(tty.id);
    await assertGrpcError(api().resizeTerminal({ id: tty.id, size: { height: 10, width: 10 } }), FP, "CONTAINER_STATE_INVALID", ["configured"]);
    await assertGrpcError(api().resizeTerminal({ id: tty.id, size: { height: 0, width: 10 } }), INVALID, "INVALID_ARGUMENT", ["size.height"]);
    await assertGrpcError(api().resizeTerminal({ id: tty.id, size: { height: 10, width: 70000 } }), INVALID, "INVALID_ARGUMENT", ["size.width"]);
    await assertGrpcError(api().resizeTerminal({ id: tty.id }), INVALID, "INVALID_ARGUMENT", ["size"]);
    await assertGrpcError(api().resizeTerminal({ id: "", size: { height: 10, width: 10 } }), INVALID, "INVALID_ARGUMENT", ["id"]);
    await assertGrpcError(api().resizeTerminal({ id: "no-such-container", size: { height: 10, width: 10 } }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");

    // Created (not started) is accepted; exited is not.
    await api().initContainer({ id: tty.id });
    await api().resizeTerminal({ id: tty.id, size: { height: 12, width: 34 } });
    await api().startContainer({ id: tty.id });
    await waitExited(api(), tty.id);
    await assertGrpcError(api().resizeTerminal({ id: tty.id, size: { height: 10, width: 10 } }), FP, "CONTAINER_STATE_INVALID", ["exited"]);
  });
});
