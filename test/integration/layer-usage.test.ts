// Disk usage of live trees against GNU du and df on this host: hard links
// once, symlinks not followed, sparse files by their blocks, entries vanishing
// mid-walk skipped, any other error named. Times are reported, not asserted.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { link, mkdir, mkdtemp, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { HullError } from "../../src/errors.js";
import { directoryUsage, filesystemInfo } from "../../src/images/layer-usage.js";

async function du(dir: string): Promise<{ bytes: bigint; inodes: bigint }> {
  const first = (out: string): bigint => BigInt(out.split(/\s+/)[0] ?? "");
  const [bytes, inodes] = await Promise.all([execa("du", ["-x", "-s", "-B1", dir]), execa("du", ["-x", "-s", "--inodes", dir])]);
  return { bytes: first(bytes.stdout), inodes: first(inodes.stdout) };
}

describe("directoryUsage", () => {
  let base = "";
  before(async () => {
    base = await mkdtemp("/tmp/hlu-");
  });
  after(async () => {
    // rm(1), not fs.rm: the deep tree below is past PATH_MAX as one path.
    if (base) await execa("rm", ["-rf", base]);
  });

  test("matches du -sB1 and du --inodes: hard links once, symlinks not followed, sparse by blocks", async () => {
    const tree = join(base, "tree");
    const outside = join(base, "outside");
    await mkdir(join(tree, "a/b/c"), { recursive: true });
    await mkdir(join(tree, "empty"));
    await mkdir(outside);
    await writeFile(join(outside, "big"), Buffer.alloc(4 * 1024 * 1024, 1));
    await writeFile(join(tree, "a/data"), Buffer.alloc(100_000, 2));
    await link(join(tree, "a/data"), join(tree, "a/b/data-link"));
    await link(join(tree, "a/data"), join(tree, "a/b/c/data-link2"));
    await writeFile(join(tree, "a/b/c/small"), "x");
    await writeFile(join(tree, "sparse"), "end");
    await truncate(join(tree, "sparse"), 1024 * 1024 * 1024);
    await symlink(join(outside, "big"), join(tree, "to-big"));
    await symlink(outside, join(tree, "to-outside-dir"));
    await symlink("a", join(tree, "to-a"));
    await symlink("nowhere", join(tree, "dangling"));

    const got = await directoryUsage(tree);
    const want = await du(tree);
    assert.deepEqual(got, { usedBytes: want.bytes, inodesUsed: want.inodes });
    // Sanity on what du counted: well under the 4 MiB outside and the 1 GiB sparse size.
    assert.ok(want.bytes < 1_000_000n, `${want.bytes} bytes`);
    // 5 dirs, data (3 links), small, sparse, 4 symlinks.
    assert.equal(got?.inodesUsed, 12n);
  });

  test("a path that does not exist is undefined; a file is its own usage", async () => {
    assert.equal(await directoryUsage(join(base, "no-such-dir")), undefined);
    const file = join(base, "one-file");
    await writeFile(file, Buffer.alloc(10_000, 3));
    const want = await du(file);
    assert.deepEqual(await directoryUsage(file), { usedBytes: want.bytes, inodesUsed: 1n });
  });

  test("10k files: the walk's time against du's", async (t) => {
    const tree = join(base, "many");
    for (let d = 0; d < 100; d++) {
      const dir = join(tree, `d${d}`);
      await mkdir(dir, { recursive: true });
      await Promise.all(Array.from({ length: 100 }, (_, f) => writeFile(join(dir, `f${f}`), `file ${f}\n`)));
    }
    const want = await du(tree);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      assert.deepEqual(await directoryUsage(tree), { usedBytes: want.bytes, inodesUsed: want.inodes });
      times.push(performance.now() - start);
    }
    const duStart = performance.now();
    await execa("du", ["-x", "-s", "-B1", tree]);
    const duMs = performance.now() - duStart;
    times.sort((a, b) => a - b);
    t.diagnostic(
      `${want.inodes} inodes: median ${times[2]?.toFixed(1)} ms (min ${times[0]?.toFixed(1)}, max ${times[4]?.toFixed(1)}); du -sB1 ${duMs.toFixed(1)} ms`,
    );
  });

  test("entries vanishing mid-walk are skipped", async () => {
    const tree = join(base, "churn");
    await mkdir(join(tree, "stable"), { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(tree, "stable", `s${i}`), "s");
    // A writer that keeps making and removing a directory of 50 files: some
    // walks list names that are gone when lstat or readdir reaches them. The
    // race cannot be forced from here; what holds is that no walk fails.
    const script = `cd ${tree} && while :; do mkdir -p x/y; for i in 1 2 3 4 5 6 7 8 9 10; do : > x/a$i; : > x/y/b$i; done; rm -rf x; done`;
    const churn = spawn("/bin/busybox", ["sh", "-c", script], { stdio: "ignore" });
    try {
      for (let i = 0; i < 40; i++) {
        const u = await directoryUsage(tree, { concurrency: 4 });
        // tree, stable and its 50 files at least; at most the churned 22 more.
        assert.ok(u !== undefined && u.inodesUsed >= 52n && u.inodesUsed <= 74n, `walk ${i}: ${String(u?.inodesUsed)} inodes`);
      }
    } finally {
      const exited = once(churn, "exit");
      churn.kill("SIGKILL");
      await exited;
    }
  });

  test("any other error ends the walk, naming the entry", async () => {
    // A tree deeper than PATH_MAX (4096) as one path: lstat of the full path fails with ENAMETOOLONG.
    const deep = join(base, "deep");
    await mkdir(deep);
    const name = "d".repeat(200);
    await execa("bash", ["-c", `cd ${deep} && for i in $(seq 1 25); do mkdir ${name} && cd ${name}; done && echo x > f`]);
    await assert.rejects(
      directoryUsage(deep),
      (e: unknown) =>
        e instanceof HullError &&
        e.reason === "INTERNAL" &&
        e.message.startsWith(`measuring the disk usage of ${deep}: `) &&
        e.message.includes("ENAMETOOLONG") &&
        (e.metadata.path ?? "").startsWith(deep),
    );
  });
});

describe("filesystemInfo", () => {
  test("matches df for /tmp", async () => {
    const info = await filesystemInfo("/tmp");
    const { stdout } = await execa("df", ["-B1", "--output=size,avail,itotal,iavail,target", "/tmp"]);
    const [size, avail, itotal, iavail, target] = (stdout.split("\n")[1] ?? "").trim().split(/\s+/);
    assert.equal(info.mountpoint, target);
    assert.equal(info.totalBytes, BigInt(size ?? ""));
    // Others write to /tmp meanwhile: the free counts only have to be close.
    const near = (a: bigint | undefined, b: bigint, slack: bigint): boolean => a !== undefined && (a > b ? a - b : b - a) <= slack;
    assert.ok(near(info.availableBytes, BigInt(avail ?? ""), 256n * 1024n * 1024n), `available ${info.availableBytes} vs df's ${avail}`);
    if (itotal !== "0") {
      assert.equal(info.inodesTotal, BigInt(itotal ?? ""));
      assert.ok(near(info.inodesFree, BigInt(iavail ?? ""), 100_000n), `free inodes ${String(info.inodesFree)} vs df's ${iavail}`);
    }
  });
  test("a missing path is an error naming it", async () => {
    await assert.rejects(filesystemInfo("/tmp/no-such-dir-hull"), (e: unknown) => e instanceof HullError && e.message.includes("/tmp/no-such-dir-hull"));
  });
});
