// ContainerLogs and `hull logs` against a real hulld, runc and conmon: stream
// selection, tail, since/until, follow to the container's exit, hulld's
// log rotation (more in log-rotation.test.ts), and the CLI's byte-exact output.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import {
  ContainerLogsRequest,
  ContainerState,
  OutputStream,
  type ContainerLogsResponse,
  type ContainerServiceClient,
  type DeepPartial,
  type LogLine,
  type OutputFrame,
} from "../../src/gen/hull/v1/container.js";
import { assertGrpcError } from "../helpers/api.js";
import { daemonSuite } from "../helpers/suite.js";
import { create, createStarted, inspect, waitExited } from "../helpers/fixtures.js";
import { logsRequest, rfc3339Nano } from "../../src/cli/logs-cmd.js";

const HULL = fileURLToPath(new URL("../../src/cli/hull.js", import.meta.url));

interface Collected {
  lines: LogLine[];
  /** With raw: the output frames. */
  frames: OutputFrame[];
  responses: number;
}

/** Reads a whole ContainerLogs stream; resolves only when the server ends it. */
function logs(client: ContainerServiceClient, req: DeepPartial<ContainerLogsRequest>, deadlineMs = 45_000): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const call = client.containerLogs(ContainerLogsRequest.fromPartial(req), new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
    const out: Collected = { lines: [], frames: [], responses: 0 };
    call.on("data", (res: ContainerLogsResponse) => {
      out.responses++;
      out.lines.push(...res.lines);
      out.frames.push(...res.output);
    });
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

/** One stream's raw output, its frames joined. */
function rawText(frames: OutputFrame[], stream: OutputStream): string {
  return Buffer.concat(frames.filter((f) => f.stream === stream).map((f) => f.data)).toString();
}

function texts(lines: LogLine[], stream?: OutputStream): string[] {
  return lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.data.toString());
}

const OUT = OutputStream.OUTPUT_STREAM_STDOUT;
const ERR = OutputStream.OUTPUT_STREAM_STDERR;

/** The numbers printed, checked to be strictly increasing (no line twice, none out of order). */
function increasing(lines: LogLine[]): number[] {
  const nums = texts(lines).map(Number);
  for (let i = 1; i < nums.length; i++) assert.ok(nums[i]! > nums[i - 1]!, `not increasing at ${i}: ${nums.slice(Math.max(0, i - 3), i + 3).join(",")}`);
  return nums;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

function hull(socket: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [HULL, "--socket", socket, ...args], { timeout: 45_000, encoding: "buffer" }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

describe("ContainerLogs", () => {
  const s = daemonSuite();

  /** A started container; remembered for removal. */
  async function run(script: string, extra: Parameters<typeof createStarted>[3] = {}): Promise<string> {
    const c = await createStarted(s.d.api, s.rootfs, ["sh", "-c", script], extra);
    s.made.push(c.id);
    return c.id;
  }

  async function ran(script: string, extra: Parameters<typeof createStarted>[3] = {}): Promise<string> {
    const id = await run(script, extra);
    await waitExited(s.d.api, id);
    return id;
  }

  it("returns stdout and stderr lines with their streams, and selects either", async () => {
    const id = await run("echo out; echo err >&2; exit 7");
    assert.equal((await s.d.api.waitContainer({ id })).exitCode, 7);
    const all = await logs(s.d.client, { id });
    assert.deepEqual(texts(all.lines, OUT), ["out"]);
    assert.deepEqual(texts(all.lines, ERR), ["err"]);
    assert.equal(all.lines.length, 2);
    assert.ok(
      all.lines.every((l) => l.full && l.time === undefined),
      "full lines, no time unless asked",
    );
    assert.deepEqual(texts((await logs(s.d.client, { id, stdout: true })).lines), ["out"]);
    assert.deepEqual(texts((await logs(s.d.client, { id, stderr: true })).lines), ["err"]);
    assert.equal((await logs(s.d.client, { id, stdout: true, stderr: true })).lines.length, 2);
  });

  it("keeps a partial last line partial, and bytes as written", async () => {
    const id = await ran("printf 'a\\tb  c\\n'; printf 'no newline'");
    const { lines } = await logs(s.d.client, { id });
    assert.deepEqual(
      lines.map((l) => [l.data.toString(), l.full]),
      [
        ["a\tb  c", true],
        ["no newline", false],
      ],
    );
  });

  it("tail gives the last N lines", async () => {
    const id = await ran("seq 1 10");
    assert.deepEqual(texts((await logs(s.d.client, { id, tail: 2 })).lines), ["9", "10"]);
    assert.deepEqual(texts((await logs(s.d.client, { id, tail: 0 })).lines), []);
    assert.deepEqual(texts((await logs(s.d.client, { id, tail: 100 })).lines), range(1, 10).map(String));
    assert.deepEqual(texts((await logs(s.d.client, { id, tail: 3, stderr: true })).lines), []);
  });

  it("since and until filter by the lines' times; timestamps sets them", async () => {
    const id = await ran("echo a; sleep 0.1; echo b; sleep 0.1; echo c");
    const { lines } = await logs(s.d.client, { id, timestamps: true });
    assert.deepEqual(texts(lines), ["a", "b", "c"]);
    const times = lines.map((l) => l.time?.getTime() ?? assert.fail("time missing with timestamps"));
    const tb = times[1]!;
    const expectSince = texts(lines.filter((_, i) => times[i]! >= tb));
    const expectUntil = texts(lines.filter((_, i) => times[i]! <= tb));
    assert.deepEqual(texts((await logs(s.d.client, { id, since: new Date(tb) })).lines), expectSince);
    assert.deepEqual(texts((await logs(s.d.client, { id, until: new Date(tb) })).lines), expectUntil);
    assert.deepEqual(texts((await logs(s.d.client, { id, since: new Date(tb), until: new Date(tb) })).lines), ["b"]);
    assert.ok(expectSince.includes("c") && !expectSince.includes("a") && expectUntil.includes("a") && !expectUntil.includes("c"));
    assert.deepEqual(texts((await logs(s.d.client, { id, since: new Date(times[2]! + 1) })).lines), []);
  });

  it("refuses bad requests and unknown containers", async () => {
    const id = await ran("true");
    const now = Date.now();
    await assertGrpcError(
      logs(s.d.client, { id, since: new Date(now), until: new Date(now - 1000) }),
      grpc.status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
      "since",
    );
    await assertGrpcError(logs(s.d.client, { id, tail: 5_000_000 }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "tail");
    await assertGrpcError(logs(s.d.client, { id: "" }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "id");
    await assertGrpcError(logs(s.d.client, { id: "no-such-container" }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
  });

  it("raw gives the output as frames, byte for byte, with stream selection, tail and follow", async () => {
    const id = await ran("echo out; echo err >&2; printf 'a\\tb  c'; printf partial >&2");
    const all = await logs(s.d.client, { id, raw: true });
    assert.equal(all.lines.length, 0, "raw sends no LogLines");
    assert.equal(rawText(all.frames, OUT), "out\na\tb  c");
    assert.equal(rawText(all.frames, ERR), "err\npartial");
    const errOnly = await logs(s.d.client, { id, raw: true, stderr: true });
    assert.ok(errOnly.frames.every((f) => f.stream === ERR));
    assert.equal(rawText(errOnly.frames, ERR), "err\npartial");
    const seq = await ran("seq 1 10");
    assert.equal(rawText((await logs(s.d.client, { id: seq, raw: true, tail: 2 })).frames, OUT), "9\n10\n");
    const n = 30;
    const running = await run(`for i in $(seq 1 ${n}); do echo $i; sleep 0.01; done`);
    const followed = await logs(s.d.client, { id: running, raw: true, follow: true });
    assert.equal(
      rawText(followed.frames, OUT),
      range(1, n)
        .map((i) => `${i}\n`)
        .join(""),
    );
    await assertGrpcError(logs(s.d.client, { id, raw: true, timestamps: true }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "raw");
  });

  it("a container that never started has no lines, with or without follow", async () => {
    const c = await create(s.d.api, s.rootfs, ["echo", "never"]);
    s.made.push(c.id);
    assert.deepEqual((await logs(s.d.client, { id: c.id })).lines, []);
    assert.deepEqual((await logs(s.d.client, { id: c.id, follow: true })).lines, []);
  });

  it("follow returns every line of a running container once, in order, then ends at its exit", async () => {
    const n = 60;
    const id = await run(`for i in $(seq 1 ${n}); do echo $i; sleep 0.01; done; exit 3`);
    const { lines } = await logs(s.d.client, { id, follow: true });
    assert.deepEqual(increasing(lines), range(1, n));
    assert.equal((await s.d.api.waitContainer({ id })).exitCode, 3);
  });

  it("follow from before the start (created container) gets every line", async () => {
    const n = 40;
    const c = await create(s.d.api, s.rootfs, ["sh", "-c", `for i in $(seq 1 ${n}); do echo $i; echo e$i >&2; done`]);
    s.made.push(c.id);
    await s.d.api.initContainer({ id: c.id });
    const following = logs(s.d.client, { id: c.id, follow: true });
    await s.d.api.startContainer({ id: c.id });
    const { lines } = await following;
    assert.deepEqual(texts(lines, OUT), range(1, n).map(String));
    assert.deepEqual(
      texts(lines, ERR),
      range(1, n).map((i) => `e${i}`),
    );
  });

  it("follow on an exited container returns its lines and ends; tail applies", async () => {
    const id = await ran("seq 1 5");
    assert.deepEqual(texts((await logs(s.d.client, { id, follow: true })).lines), range(1, 5).map(String));
    assert.deepEqual(texts((await logs(s.d.client, { id, follow: true, tail: 2 })).lines), ["4", "5"]);
  });

  it("follow ends when the container is removed", async () => {
    const id = await run("echo started; sleep 1000");
    const call = s.d.client.containerLogs(ContainerLogsRequest.fromPartial({ id, follow: true }), new grpc.Metadata(), { deadline: Date.now() + 45_000 });
    const got: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on("end", resolve);
      call.on("error", reject);
    });
    // The first line proves the follow is under way before the removal.
    await new Promise<void>((resolve) =>
      call.on("data", (res: ContainerLogsResponse) => {
        got.push(...texts(res.lines));
        resolve();
      }),
    );
    await s.d.api.removeContainer({ id, force: true, timeoutSeconds: 0 });
    await ended;
    assert.deepEqual(got, ["started"]);
  });

  it("follow with until ends once that time has passed, though the container runs on", async () => {
    const id = await run("echo x; sleep 1000");
    const { lines } = await logs(s.d.client, { id, follow: true, until: new Date() });
    assert.ok(texts(lines).every((t) => t === "x"));
    assert.equal((await inspect(s.d.api, id)).state, ContainerState.CONTAINER_STATE_RUNNING);
  });

  it("with log_max_size_bytes, logs keep the most recent lines with no duplicates", async () => {
    const max = 4096;
    const n = 1500;
    // A follower started with the container, and a plain read after its exit.
    const id = await run(`for i in $(seq 1 ${n}); do echo $i; done`, { logMaxSizeBytes: max });
    const followed = await logs(s.d.client, { id, follow: true });
    await waitExited(s.d.api, id);
    const c = await inspect(s.d.api, id);
    assert.equal(c.config?.logMaxSizeBytes, max);
    const followedNums = increasing(followed.lines);
    assert.equal(followedNums.at(-1), n, "the follow got the last line");
    const { lines } = await logs(s.d.client, { id });
    const nums = increasing(lines);
    assert.ok(nums.length > 0 && nums.length <= n, `rotation kept ${nums.length} of ${n} lines`);
    assert.deepEqual(nums, range(n - nums.length + 1, n), "a contiguous run ending at the last line");
    // hulld rotated it (the limit is soft, as the kubelet's: the live file may pass it until the check runs).
    await stat(`${s.d.root}/containers/${id}/ctr.log.1`);
    assert.deepEqual(texts((await logs(s.d.client, { id, tail: 3 })).lines), [n - 2, n - 1, n].map(String));
  });

  it("batches lines into responses of about 64 KiB", async () => {
    const id = await ran("i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done");
    const { lines, responses } = await logs(s.d.client, { id });
    // conmon splits a line its 8 KiB read cut in two into P + F records: join them back.
    const joined: string[] = [];
    let partial = "";
    for (const l of lines) {
      partial += l.data.toString();
      if (l.full) {
        joined.push(partial);
        partial = "";
      }
    }
    assert.equal(joined.length, 3000);
    assert.ok(joined.every((t, i) => t.startsWith(`line-${i}-`)));
    assert.ok(responses < 3000 / 100, `${responses} responses for ${lines.length} records`);
  });
});

describe("hull logs", () => {
  const s = daemonSuite();

  it("prints stdout and stderr to their own outputs, byte for byte", async () => {
    const c = await createStarted(s.d.api, s.rootfs, ["sh", "-c", "echo out; echo err >&2; printf partial"]);
    s.made.push(c.id);
    await waitExited(s.d.api, c.id);
    const r = await hull(s.d.socket, "logs", c.id);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), "out\npartial");
    assert.equal(r.stderr.toString(), "err\n");
    const c2 = await createStarted(s.d.api, s.rootfs, ["sh", "-c", "echo a; echo b; printf c"]);
    s.made.push(c2.id);
    await waitExited(s.d.api, c2.id);
    const tail = await hull(s.d.socket, "logs", "--tail", "2", c2.id);
    assert.equal(tail.stdout.toString(), "b\nc");
    const ts = await hull(s.d.socket, "logs", "-t", c.id);
    assert.match(ts.stdout.toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z out\n\d{4}-\S+Z partial$/);
    assert.match(ts.stderr.toString(), /^\d{4}-\S+Z err\n$/);
    for (const window of [
      ["--since", "2099-01-01T00:00:00Z"],
      ["--until", "2000-01-01"],
    ]) {
      const none = await hull(s.d.socket, "logs", ...window, c.id);
      assert.equal(none.code, 0, none.stderr.toString());
      assert.equal(none.stdout.length + none.stderr.length, 0, `nothing logged with ${window.join(" ")}`);
    }
    const recent = await hull(s.d.socket, "logs", "--since", "10m", c.id);
    assert.equal(recent.stdout.toString(), "out\npartial");
  });

  it("logs -f prints until the container exits", async () => {
    const n = 30;
    const c = await createStarted(s.d.api, s.rootfs, ["sh", "-c", `for i in $(seq 1 ${n}); do echo $i; sleep 0.01; done`]);
    s.made.push(c.id);
    const r = await hull(s.d.socket, "logs", "-f", c.id);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.equal(
      r.stdout.toString(),
      range(1, n)
        .map((i) => `${i}\n`)
        .join(""),
    );
  });

  it("reports errors like podman", async () => {
    const r = await hull(s.d.socket, "logs", "no-such-container");
    assert.equal(r.code, 125);
    assert.match(r.stderr.toString(), /^Error: .*no-such-container/);
    const bad = await hull(s.d.socket, "logs", "--since", "yesterday", "x");
    assert.equal(bad.code, 125);
    assert.match(bad.stderr.toString(), /--since/);
  });

  it("builds requests from podman's options (pure)", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    const req = logsRequest("c1", { follow: true, tail: "5", since: "10m", until: "2026-01-01T12:30:00Z", timestamps: true }, now);
    assert.equal(req.follow, true);
    assert.equal(req.tail, 5);
    assert.equal(req.since?.toISOString(), "2026-01-01T11:50:00.000Z");
    assert.equal(req.until?.toISOString(), "2026-01-01T12:30:00.000Z");
    assert.equal(logsRequest("c1", { tail: "-1" }).tail, undefined);
    assert.throws(() => logsRequest("c1", { tail: "x" }), /--tail/);
    assert.throws(() => logsRequest("c1", { since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z" }), /--since/);
    assert.equal(rfc3339Nano(new Date("2026-01-01T12:00:00.120Z")), "2026-01-01T12:00:00.12Z");
    assert.equal(rfc3339Nano(new Date("2026-01-01T12:00:00.000Z")), "2026-01-01T12:00:00Z");
    assert.equal(rfc3339Nano(new Date("2026-01-01T12:00:10.003Z")), "2026-01-01T12:00:10.003Z");
  });
});
