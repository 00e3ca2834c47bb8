// hulld's log rotation against a real hulld, runc and conmon: a container
// writing as fast as it can with log_max_size_bytes, a follower that must
// get every line once and in order across the rotations, and the rotated
// files kept beside the log (log_max_files).
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { access, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ContainerLogsRequest, type ContainerLogsResponse, type ContainerServiceClient, type DeepPartial } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { createStarted, until, waitExited } from "../helpers/fixtures.js";

const LINES = 24_000;

/** Lines of output from log records: conmon splits a line its 8 KiB read cut into P records and an F. */
class LineJoiner {
  readonly lines: string[] = [];
  private partial = "";

  add(res: ContainerLogsResponse): void {
    for (const l of res.lines) {
      this.partial += l.data.toString();
      if (!l.full) continue;
      this.lines.push(this.partial);
      this.partial = "";
    }
  }
}
const LIMIT = 64 * 1024;

/**
 * A follow of the container's log: `ready` resolves with the first line (the
 * follower is reading by then), `done` with every line once the stream ends.
 */
function follow(client: ContainerServiceClient, req: DeepPartial<ContainerLogsRequest>): { ready: Promise<void>; done: Promise<string[]> } {
  const call = client.containerLogs(ContainerLogsRequest.fromPartial({ ...req, follow: true }), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
  const out = new LineJoiner();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = new Promise<string[]>((resolve, reject) => {
    call.on("data", (res: ContainerLogsResponse) => {
      out.add(res);
      if (out.lines.length > 0) markReady();
    });
    call.on("error", reject);
    call.on("end", () => resolve(out.lines));
  });
  // A failed call must fail the test, not leave `ready` waiting.
  done.catch(() => markReady());
  return { ready, done };
}

function logs(client: ContainerServiceClient, id: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const call = client.containerLogs(ContainerLogsRequest.fromPartial({ id }), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
    const out = new LineJoiner();
    call.on("data", (res: ContainerLogsResponse) => out.add(res));
    call.on("error", reject);
    call.on("end", () => resolve(out.lines));
  });
}

const numbers = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/**
 * Lines read from the oldest file still on disk: a contiguous run ending at
 * `last`. The first may be the end of a line whose start (conmon's P record)
 * was in a generation already deleted.
 */
function assertRunToEnd(lines: string[], last: number): void {
  assert.ok(lines.length > 0, "lines kept");
  const whole = numbers(last - lines.length + 1, last);
  const [head, ...rest] = lines;
  assert.deepEqual(rest, whole.slice(1), "a run without a gap to the last line");
  assert.ok(head !== undefined && whole[0]?.endsWith(head) === true, `the first line ${head} is ${whole[0]} or its end`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The rotated files next to the log (ctr.log) in `dir`, as their numbers (1 is the newest). */
async function rotated(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .map((f) => /^ctr\.log\.(\d+)$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

describe("log rotation", () => {
  const s = daemonSuite();
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /**
   * A container that prints "ready", waits for the test's go, then prints
   * 1..lines as fast as it can; with `stay`, it then marks /sig/done and sleeps.
   */
  async function gated(lines: number, extra: { logMaxFiles?: number } = {}, stay = false): Promise<{ id: string; go: () => Promise<void>; sig: string }> {
    const sig = await mkdtemp(join(tmpdir(), "hull-rot-"));
    dirs.push(sig);
    const script = `echo ready; while [ ! -e /sig/go ]; do sleep 0.02; done; seq 1 ${lines}${stay ? "; touch /sig/done; sleep 1000" : ""}`;
    const c = await createStarted(s.d.api, s.rootfs, ["sh", "-c", script], {
      logMaxSizeBytes: LIMIT,
      ...extra,
      mounts: [{ type: "bind", source: sig, destination: "/sig" }],
    });
    s.made.push(c.id);
    return { id: c.id, go: () => writeFile(join(sig, "go"), ""), sig };
  }

  it(`a follower of ${LINES} lines written as fast as possible with a 64 KiB limit gets every line once, in order`, async () => {
    const { id, go } = await gated(LINES);
    const f = follow(s.d.client, { id });
    await f.ready;
    await go();
    const got = await f.done;
    assert.equal(got.length, LINES + 1, `the follower got ${got.length} of ${LINES + 1} lines`);
    assert.deepEqual(got, ["ready", ...numbers(1, LINES)]);
    await waitExited(s.d.api, id);
    const dir = join(s.d.root, "containers", id);
    // One rotated file by default: the log was rotated, and older generations are gone from disk.
    assert.deepEqual(await rotated(dir), [1]);
    // A plain read now has what is on disk: a contiguous run of lines ending at the last.
    const kept = (await logs(s.d.client, id)).filter((l) => l !== "ready");
    assert.ok(kept.length > 0, "lines kept");
    assertRunToEnd(kept, LINES);
  });

  it("keeps log_max_files rotated files, and two followers started at different times each read on without loss", async () => {
    // Ten bursts of LINES, each waiting for the rotation it caused: the log
    // is in the container's /sig, so it can watch its own log's inode change.
    const bursts = 10;
    const many = LINES * bursts;
    const sig = await mkdtemp(join(tmpdir(), "hull-rot-"));
    dirs.push(sig);
    const script = [
      "echo ready; while [ ! -e /sig/go ]; do sleep 0.02; done",
      `i=0; while [ $i -lt ${bursts} ]; do`,
      "  before=$(ls -i /sig/ctr.log 2>/dev/null)",
      `  seq $((i*${LINES}+1)) $(((i+1)*${LINES}))`,
      '  while [ "$(ls -i /sig/ctr.log 2>/dev/null)" = "$before" ]; do sleep 0.01; done',
      "  i=$((i+1))",
      "done",
    ].join("\n");
    const c = await createStarted(s.d.api, s.rootfs, ["sh", "-c", script], {
      logMaxSizeBytes: LIMIT,
      logMaxFiles: 3,
      logPath: join(sig, "ctr.log"),
      mounts: [{ type: "bind", source: sig, destination: "/sig" }],
    });
    s.made.push(c.id);
    const first = follow(s.d.client, { id: c.id });
    await first.ready;
    await writeFile(join(sig, "go"), "");
    // A second follower joins mid-stream: it starts at the oldest file still on disk.
    await until("the first rotation", async () => (await rotated(sig)).length > 0 || undefined);
    const second = follow(s.d.client, { id: c.id });
    const [a, b] = await Promise.all([first.done, second.done]);
    assert.equal(a.length, many + 1, `the first follower got ${a.length} of ${many + 1} lines`);
    assert.deepEqual(a, ["ready", ...numbers(1, many)]);
    const tail = b.filter((l) => l !== "ready");
    assert.ok(tail.length > 0, "the late follower got lines");
    assertRunToEnd(tail, many);
    await waitExited(s.d.api, c.id);
    assert.deepEqual(await rotated(sig), [1, 2, 3], "PATH.1 to PATH.3, the older ones deleted");
  });

  it("a log that passed its limit while hulld was down is rotated once hulld is back", async () => {
    const { id, go, sig } = await gated(LINES, {}, true);
    const dir = join(s.d.root, "containers", id);
    await until("the container's first line", async () => ((await exists(join(dir, "ctr.log"))) && (await stat(join(dir, "ctr.log"))).size > 0) || undefined);
    await s.d.stop();
    await go();
    await until("the container's output, written with no hulld", async () => (await exists(join(sig, "done"))) || undefined);
    assert.deepEqual(await rotated(dir), [], "nothing rotates while hulld is down");
    assert.ok((await stat(join(dir, "ctr.log"))).size > LIMIT);
    await s.d.restart();
    await until("the rotation after the restart", async () => (await rotated(dir)).length > 0 || undefined);
    assert.ok((await stat(join(dir, "ctr.log.1"))).size > LIMIT, "the whole file rotated");
    // Nothing lost: both files read back every line.
    assert.deepEqual(await logs(s.d.client, id), ["ready", ...numbers(1, LINES)]);
  });

  it("refuses log_max_files out of range or without a size limit", async () => {
    await assert.rejects(
      s.d.api.createContainer({ config: { rootfsPath: s.rootfs, command: ["true"], logMaxFiles: 2 } }),
      (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /log_max_files.*only applies with log_max_size_bytes/.test(err.details),
    );
    await assert.rejects(
      s.d.api.createContainer({ config: { rootfsPath: s.rootfs, command: ["true"], logMaxSizeBytes: LIMIT, logMaxFiles: 65 } }),
      (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /log_max_files.*outside 0\.\.64/.test(err.details),
    );
  });
});
