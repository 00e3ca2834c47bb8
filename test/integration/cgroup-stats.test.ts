// Cgroup stats on this host's real cgroups, as root: a cgroup made by hand
// with a busy process moved into it, and a container run by runc under the
// cgroupfs driver. Nothing here asserts a duration: under a CPU hog the
// counters only have to grow, within generous deadlines.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { CGROUP_ROOT, detectCgroupMode, readCgroupStats, type CgroupStats } from "../../src/oci/cgroup-stats.js";
import { CpuSampleCache, cpuSampleOf } from "../../src/oci/cpu-rate.js";
import { containerConfig } from "../helpers/container-config.js";
import { Resources } from "../../src/gen/hull/v1/container.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { writeTestBundle } from "../helpers/bundle.js";

const LIMIT = 256n * 1024n * 1024n;
const DEADLINE_MS = 30_000;

/** Reads until ok() holds, or fails after DEADLINE_MS with the last reading. */
async function eventually(path: string, ok: (s: CgroupStats) => boolean, what: string): Promise<CgroupStats> {
  const end = Date.now() + DEADLINE_MS;
  let last: CgroupStats | undefined;
  while (Date.now() < end) {
    last = await readCgroupStats(path);
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what} within ${DEADLINE_MS} ms; last read: ${String(last?.cpu.usageCoreNanoSeconds)} ns CPU, ${String(last?.memory.usageBytes)} bytes`);
}

/** The directories of one cgroup path: one per v1 controller the stats read, or the one v2 dir. */
function cgroupDirs(mode: "v1" | "v2", path: string): string[] {
  return mode === "v1" ? ["cpuacct", "memory", "pids"].map((c) => join(CGROUP_ROOT, c, path)) : [join(CGROUP_ROOT, path)];
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

describe("cgroup stats of a real cgroup", () => {
  test("a busy process moved in: CPU grows, memory is charged, the rate is positive", async (t) => {
    const mode = await detectCgroupMode();
    const path = `/hull-test-${randomBytes(4).toString("hex")}`;
    const dirs = cgroupDirs(mode, path);
    // The shell waits for a line before it execs dd, so dd's buffer is
    // allocated once it is in the cgroup: moving a process does not move the
    // memory it already had (v1's move_charge_at_immigrate is off by default).
    const child = spawn("/bin/busybox", ["sh", "-c", "read _ && exec dd if=/dev/zero of=/dev/null bs=1M"], { stdio: ["pipe", "ignore", "ignore"] });
    try {
      for (const d of dirs) await mkdir(d);
      await writeFile(mode === "v1" ? join(CGROUP_ROOT, "memory", path, "memory.limit_in_bytes") : join(CGROUP_ROOT, path, "memory.max"), `${LIMIT}\n`);
      assert.ok(child.pid !== undefined, "spawned");
      for (const d of dirs) await writeFile(join(d, "cgroup.procs"), `${child.pid}\n`);
      child.stdin?.end("go\n");

      const cache = new CpuSampleCache();
      const first = await eventually(path, (s) => s.cpu.usageCoreNanoSeconds > 0n && s.memory.usageBytes > 0n, "CPU and memory usage above 0");
      cache.update("c", cpuSampleOf(first));
      const later = await eventually(path, (s) => s.cpu.usageCoreNanoSeconds > first.cpu.usageCoreNanoSeconds, "CPU usage grows");
      assert.ok(later.timestampNs > first.timestampNs);
      const rate = cache.update("c", cpuSampleOf(later));
      assert.ok(rate !== undefined && rate > 0n, `a positive rate, got ${String(rate)}`);
      t.diagnostic(
        `${later.cpu.usageCoreNanoSeconds} ns CPU, ${rate} nanocores, memory ${later.memory.usageBytes} B (working set ${later.memory.workingSetBytes} B)`,
      );

      const m = later.memory;
      assert.ok(m.usageBytes > 0n && m.workingSetBytes <= m.usageBytes, `working set ${m.workingSetBytes} within usage ${m.usageBytes}`);
      assert.ok(
        m.availableBytes !== undefined && m.availableBytes === LIMIT - m.workingSetBytes,
        `available ${String(m.availableBytes)} = limit − working set`,
      );
      assert.ok(m.pageFaults > 0n, "dd faulted its buffer in");
      assert.equal(later.pids?.current, 1n);
      assert.equal(later.oomKills, 0n);
    } finally {
      await stop(child);
      // The kernel may still be tearing the killed process down: retry a moment.
      for (const d of dirs) await rmdirRetrying(d);
    }
    assert.equal(await readCgroupStats(path), undefined, "a removed cgroup reads as undefined");
  });
});

async function rmdirRetrying(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || i >= 100) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe("cgroup stats of a runc container", () => {
  const base = { dir: "" };
  const parent = `hull-test-${randomBytes(4).toString("hex")}`;
  after(async () => {
    if (base.dir) await rm(base.dir, { recursive: true, force: true });
  });

  test("a running container's cgroup, and undefined once runc deleted it", async (t) => {
    const probe = await execa("runc", ["--version"], { reject: false });
    if (probe.exitCode !== 0) {
      t.skip(`runc is not usable here: ${probe.stderr || probe.message}`);
      return;
    }
    base.dir = await mkdtemp("/tmp/hcs-");
    const rootfs = await buildBusyboxRootfs(join(base.dir, "rootfs"));
    const id = `s${randomBytes(6).toString("hex")}`;
    const cfg = containerConfig({
      command: ["sh", "-c", "while :; do :; done"],
      resources: Resources.fromPartial({ memoryLimitBytes: Number(LIMIT) }),
    });
    const bundle = join(base.dir, "bundle");
    await writeTestBundle(bundle, { id, config: cfg, rootfs, cgroupsPath: `/${parent}/${id}` });
    const runc = ["--root", join(base.dir, "runc")];
    const path = `/${parent}/${id}`;
    try {
      // stdio ignored: the detached container keeps whatever it is given open.
      const run = await execa("runc", [...runc, "run", "-d", "--bundle", bundle, id], { stdio: "ignore", reject: false });
      assert.equal(run.exitCode, 0, `runc run -d failed (${String(run.exitCode)})`);
      const first = await eventually(path, (s) => s.cpu.usageCoreNanoSeconds > 0n && s.memory.usageBytes > 0n, "the container's CPU and memory above 0");
      const later = await eventually(path, (s) => s.cpu.usageCoreNanoSeconds > first.cpu.usageCoreNanoSeconds, "the container's CPU grows");
      assert.ok((later.pids?.current ?? 0n) >= 1n, "the shell counts in pids.current");
      assert.equal(later.memory.availableBytes, LIMIT - later.memory.workingSetBytes, "the spec's memory limit gives availableBytes");
    } finally {
      await execa("runc", [...runc, "delete", "--force", id], { reject: false });
      const mode = await detectCgroupMode();
      for (const c of mode === "v1" ? await hierarchies() : [""]) await rmdirRetrying(join(CGROUP_ROOT, c, parent));
    }
    assert.equal(await readCgroupStats(path), undefined, "runc delete removed the cgroup");
  });
});

/** Every hierarchy runc may have made the parent in: each v1 controller's, and on a hybrid host the cgroup2 tree's. */
async function hierarchies(): Promise<string[]> {
  return readdir(CGROUP_ROOT);
}
