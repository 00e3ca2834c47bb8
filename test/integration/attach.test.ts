// AttachContainer against a real hulld (runc + conmon): start-and-attach
// loses nothing, stdin round trip, detach keys, logs replay + live with no
// seam, several clients, and the refusals.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, errorInfo, type Api } from "../helpers/api.js";
import { S, assertState, create, inspect, must, uniqueName, until, waitExited } from "../helpers/fixtures.js";
import { openAttach, type AttachResult } from "../helpers/attach.js";
import { ContainerServiceClient, EventsRequest, type AttachContainerResponse, type Event, type EventsResponse } from "../../src/gen/hull/v1/container.js";

function assertNoError(r: AttachResult, what: string): void {
  assert.equal(r.error, undefined, `${what}: the call failed: ${r.error?.code} ${r.error?.details}`);
}

describe("attach", () => {
  const s = daemonSuite({ daemon: { logLevel: "warn" } });
  const api = (): Api => s.d.api;

  /** The result of a call that must fail; rejects with its error so assertGrpcError can check it. */
  async function failure(r: Promise<AttachResult>): Promise<AttachResult> {
    const res = await r;
    if (res.error) throw res.error;
    return res;
  }

  it("round-trips stdin through cat, and close_stdin ends it with 0", async () => {
    const c = await create(api(), s.rootfs, ["cat"], { stdin: true });
    s.made.push(c.id);
    const a = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true, stderr: true, start: true });
    const attached = must((await a.until("attached", (r) => r.attached !== undefined)).attached, "attached");
    assertState(attached, S.CONTAINER_STATE_RUNNING);
    a.stdin("hello\n");
    await a.until("the echo of hello", (r) => r.stdout === "hello\n");
    // Larger than conmon's packets: hull splits it, conmon passes each whole.
    const big = `${"0123456789".repeat(20_000)}\n`;
    a.stdin(big);
    await a.until("the echo of 200 kB", (r) => r.stdout.length === 6 + big.length);
    a.closeStdin();
    const r = await a.finished;
    assertNoError(r, "cat");
    assert.equal(r.stdout, `hello\n${big}`);
    assert.equal(r.stderr, "");
    assert.equal(r.exitCode, 0);
  });

  it("detaches on the detach keys, forwarding what came before them; the container keeps running", async () => {
    const c = await create(api(), s.rootfs, ["sh", "-c", 'read l; echo "got $l"; exec sleep 1000'], { stdin: true });
    s.made.push(c.id);
    const a = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true, stderr: true, start: true, detachKeys: "ctrl-a,x" });
    await a.until("attached", (r) => r.attached !== undefined);
    // The first key ends this chunk: it is held back until the next shows the whole sequence.
    a.stdin("hello\n\x01");
    await a.until("the shell's answer", (r) => r.stdout === "got hello\n");
    a.stdin("x");
    const r = await a.finished;
    assertNoError(r, "detach");
    assert.equal(r.detached, true);
    assert.equal(r.exitCode, undefined);
    assert.equal(r.order.at(-1), "detached");
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_RUNNING);

    // Attach (no start) to the running container; the default keys are ctrl-p,ctrl-q.
    const b = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true, stderr: true });
    const again = must((await b.until("attached", (x) => x.attached !== undefined)).attached, "attached");
    assertState(again, S.CONTAINER_STATE_RUNNING);
    b.stdin("\x10\x11");
    const rb = await b.finished;
    assertNoError(rb, "second detach");
    assert.equal(rb.detached, true);
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_RUNNING);
  });

  it("replays the log and follows it live with every line exactly once, in order", async () => {
    const stop = `/tmp/stop-${uniqueName("seam")}`;
    const c = await create(api(), s.rootfs, ["sh", "-c", `i=0; while [ ! -e ${stop} ]; do echo $i; i=$((i+1)); done; echo end`]);
    s.made.push(c.id);
    const started = must((await api().startContainer({ id: c.id })).container, "start");
    // Attach while the container is writing fast, with lines already in the log.
    await until("lines in the log", async () => (((await stat(started.logPath).catch(() => undefined))?.size ?? 0) > 64 * 1024 ? true : undefined), 30_000, 20);
    const a = openAttach(s.d.client, { id: c.id, stdout: true, stderr: true, logs: true });
    const replay = openAttach(s.d.client, { id: c.id, stdout: true, logs: true, stream: false });
    await a.until("live lines", (r) => r.stdout.length > 256 * 1024);
    await mkdir(join(s.rootfs, "tmp"), { recursive: true });
    await writeFile(join(s.rootfs, stop), "");
    const r = await a.finished;
    assertNoError(r, "logs + stream");
    assert.equal(r.exitCode, 0);
    const lines = r.stdout.split("\n");
    assert.equal(lines.pop(), "", "output ends with a newline");
    assert.equal(lines.pop(), "end");
    assert.ok(lines.length > 10_000, `only ${lines.length} lines`);
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] !== String(i))
        assert.fail(`line ${i} is ${JSON.stringify(lines[i])} (lines ${i - 2}..${i + 2}: ${JSON.stringify(lines.slice(Math.max(0, i - 2), i + 3))})`);
    }

    // logs with stream false: what the log held, then the end (no exit code).
    const rr = await replay.finished;
    assertNoError(rr, "logs replay only");
    assert.equal(rr.exitCode, undefined);
    const replayed = rr.stdout.split("\n");
    assert.equal(replayed.pop(), "");
    // The replay reads to the end of a file still growing: it may reach the last line.
    if (replayed.at(-1) === "end") replayed.pop();
    assert.ok(replayed.length > 0);
    replayed.forEach((l, i) => assert.equal(l, String(i)));
  });

  it("serves two clients attached at once, each with all the output and the exit code", async () => {
    const c = await create(api(), s.rootfs, ["sh", "-c", "echo one; echo two >&2; exit 5"]);
    s.made.push(c.id);
    await api().initContainer({ id: c.id });
    // No streams named: stdout and stderr (and stdin only for a container with stdin).
    const first = openAttach(s.d.client, { id: c.id });
    const attached = must((await first.until("attached", (r) => r.attached !== undefined)).attached, "attached");
    assertState(attached, S.CONTAINER_STATE_CREATED);
    const second = openAttach(s.d.client, { id: c.name, stdout: true, stderr: true, start: true });
    for (const [what, r] of [
      ["first", await first.finished],
      ["second", await second.finished],
    ] as const) {
      assertNoError(r, what);
      assert.equal(r.stdout, "one\n", `${what}: stdout`);
      assert.equal(r.stderr, "two\n", `${what}: stderr`);
      assert.equal(r.exitCode, 5, `${what}: exit code`);
    }

    // Each attach is a lifecycle event.
    const call = s.d.client.events(EventsRequest.fromPartial({ containers: [c.id], types: ["attach"], since: new Date(0), until: new Date() }));
    const events: Event[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on("data", (res: EventsResponse) => res.event && events.push(res.event));
      call.on("error", reject);
      call.on("end", resolve);
    });
    assert.deepEqual(
      events.map((e) => [e.type, e.attributes.start, e.attributes.stdout]),
      [
        ["attach", "false", "true"],
        ["attach", "true", "true"],
      ],
    );
  });

  it("drops a client that stops reading (RESOURCE_EXHAUSTED) while another gets every byte", async () => {
    // Bursts below the 4 MiB queue limit: a reading client keeps up; one that
    // stops reading falls more than 4 MiB behind and is dropped.
    const c = await create(api(), s.rootfs, ["sh", "-c", "i=0; while [ $i -lt 5 ]; do head -c 2000000 /dev/zero; sleep 0.3; i=$((i+1)); done"]);
    s.made.push(c.id);
    await api().initContainer({ id: c.id });
    // Its own HTTP/2 connection: a paused stream holds its connection's flow-control window.
    const own = new ContainerServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      const slow = openAttach(own, { id: c.id, stdout: true });
      await slow.until("attached", (r) => r.attached !== undefined);
      slow.call.pause();
      let bytes = 0;
      const fast = openAttach(s.d.client, { id: c.id, stdout: true, start: true });
      fast.call.on("data", (m: AttachContainerResponse) => {
        if (m.message?.$case === "output") bytes += m.message.value.data.length;
      });
      const rf = await fast.finished;
      assertNoError(rf, "the reading client");
      assert.equal(bytes, 10_000_000);
      assert.equal(rf.exitCode, 0);
      slow.call.resume();
      const rs = await slow.finished;
      assert.equal(rs.error?.code, grpc.status.RESOURCE_EXHAUSTED, `the stalled client: ${rs.error?.details}`);
      assert.equal(errorInfo(rs.error).reason, "RESOURCE_EXHAUSTED");
      assert.equal(rs.exitCode, undefined);
    } finally {
      own.close();
    }
  });

  it("moves a start-and-attach client that falls behind to the log: every line once, in order", async () => {
    // 6.9 MB of numbered lines, written while the client reads nothing: far
    // past the 4 MiB queue, so hulld must continue this client from the log.
    const c = await create(api(), s.rootfs, ["seq", "1", "1000000"]);
    s.made.push(c.id);
    const own = new ContainerServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      const slow = openAttach(own, { id: c.id, stdout: true, stderr: true, start: true }, 120_000);
      await slow.until("attached", (r) => r.attached !== undefined);
      slow.call.pause();
      assert.equal((await api().waitContainer({ id: c.id })).exitCode, 0);
      slow.call.resume();
      const r = await slow.finished;
      assertNoError(r, "the client that fell behind");
      assert.equal(r.exitCode, 0);
      const lines = r.stdout.split("\n");
      assert.equal(lines.pop(), "", "the output ends with a newline");
      assert.equal(lines.length, 1_000_000);
      const wrong = lines.findIndex((line, i) => line !== String(i + 1));
      assert.equal(wrong, -1, `line ${wrong + 1} is ${JSON.stringify(lines[wrong])}`);
    } finally {
      own.close();
    }
  });

  it("refuses exited and configured containers, and malformed opens", async () => {
    const FP = grpc.status.FAILED_PRECONDITION;
    const INVALID = grpc.status.INVALID_ARGUMENT;
    const c = await create(api(), s.rootfs, ["true"]);
    s.made.push(c.id);
    await assertGrpcError(failure(openAttach(s.d.client, { id: c.id, stdout: true }).finished), FP, "CONTAINER_STATE_INVALID", ["configured", "attach"]);
    const ran = await openAttach(s.d.client, { id: c.id, stdout: true, start: true }).finished;
    assertNoError(ran, "start-and-attach of true");
    assert.equal(ran.exitCode, 0);
    await waitExited(api(), c.id);
    await assertGrpcError(failure(openAttach(s.d.client, { id: c.id, stdout: true }).finished), FP, "CONTAINER_STATE_INVALID", ["exited"]);
    await assertGrpcError(failure(openAttach(s.d.client, { id: "no-such-container", stdout: true }).finished), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    await assertGrpcError(failure(openAttach(s.d.client, { id: c.id, detachKeys: "ctrl-" }).finished), INVALID, "INVALID_ARGUMENT", ["detach_keys"]);
    await assertGrpcError(failure(openAttach(s.d.client, { id: c.id, stream: false }).finished), INVALID, "INVALID_ARGUMENT", ["stream"]);
    await assertGrpcError(failure(openAttach(s.d.client, { id: "" }).finished), INVALID, "INVALID_ARGUMENT", ["open.id"]);

    // The first message must be open.
    const raw = s.d.client.attachContainer();
    const rawDone = new Promise<grpc.ServiceError>((resolve) => raw.on("error", resolve));
    raw.on("data", () => undefined);
    raw.write({ message: { $case: "stdin", value: Buffer.from("x") } });
    const e = errorInfo(await rawDone);
    assert.equal(e.code, INVALID);
    assert.match(e.message, /first message/);

    // stdin on an attach opened without it.
    const sleeper = await create(api(), s.rootfs, ["sleep", "1000"], { stdin: true });
    s.made.push(sleeper.id);
    const noStdin = openAttach(s.d.client, { id: sleeper.id, stdout: true, start: true });
    await noStdin.until("attached", (r) => r.attached !== undefined);
    noStdin.stdin("x");
    await assertGrpcError(failure(noStdin.finished), INVALID, "INVALID_ARGUMENT", ["stdin"]);
    assertState(await inspect(api(), sleeper.id), S.CONTAINER_STATE_RUNNING);
  });
});
