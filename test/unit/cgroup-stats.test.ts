// Cgroup stats without root: the parsers and the arithmetic on fixtures of
// v1 and v2 text, and the reads against fixture trees laid out as runc's
// cgroupfs driver lays out the real ones.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HullError } from "../../src/errors.js";
import {
  availableBytes,
  checkCgroupsPath,
  detectCgroupMode,
  memoryStats,
  parseCounter,
  parseCpuStat,
  parseFlatKeyed,
  parseLimit,
  parseMemoryStat,
  readCgroupStats,
  readCgroupsSum,
  statsClockNs,
  sumCgroupStats,
  workingSetBytes,
  type CgroupStats,
} from "../../src/oci/cgroup-stats.js";
import { CpuSampleCache, cpuSampleOf, nanoCores } from "../../src/oci/cpu-rate.js";

// memory.stat of a v1 cgroup (kernel 6.x), abridged: the per-cgroup keys and their total_* twins.
const V1_MEMORY_STAT = `cache 10825728
rss 3604480
rss_huge 0
pgfault 46596
pgmajfault 0
inactive_file 4096
active_file 430080
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 265658368
total_rss 7409664
total_mapped_file 55193600
total_pgfault 77669257
total_pgmajfault 4051
total_inactive_anon 3674112
total_inactive_file 169185280
total_active_file 86077440
`;

// memory.stat of a v2 cgroup (kernel 6.x), abridged.
const V2_MEMORY_STAT = `anon 1851392
file 5652480
kernel 356352
sock 0
shmem 0
file_mapped 3244032
inactive_anon 1835008
active_anon 16384
inactive_file 4448256
active_file 1204224
unevictable 0
pgfault 2409
pgmajfault 11
workingset_refault_anon 0
`;

const V2_CPU_STAT = `usage_usec 7343056
user_usec 4331744
system_usec 3011312
nice_usec 188732
nr_periods 0
nr_throttled 0
throttled_usec 0
`;

const LIMITED = 512n * 1024n * 1024n;

describe("parsers", () => {
  test("flat keyed files: numbers by key, other lines skipped", () => {
    const m = parseFlatKeyed("a 1\nb 18446744073709551615\n\nsome junk here\nc x\n d 4 \n");
    assert.deepEqual(
      [...m],
      [
        ["a", 1n],
        ["b", 18446744073709551615n],
        ["d", 4n],
      ],
    );
  });
  test("single counters; v2's max is no limit", () => {
    assert.equal(parseCounter("123456789012\n", "cpuacct.usage"), 123456789012n);
    assert.equal(parseLimit("max\n", "memory.max"), undefined);
    assert.equal(parseLimit("536870912\n", "memory.max"), LIMITED);
    assert.throws(
      () => parseCounter("max\n", "cpuacct.usage"),
      (e: unknown) => e instanceof HullError && e.message.includes("cpuacct.usage"),
    );
  });
  test("v2 cpu.stat: microseconds become nanoseconds", () => {
    assert.equal(parseCpuStat(V2_CPU_STAT), 7343056000n);
    assert.throws(() => parseCpuStat("user_usec 3\n"), /cpu\.stat has no "usage_usec"/);
  });
  test("v1 memory.stat: the hierarchical total_* keys, not the cgroup's own", () => {
    assert.deepEqual(parseMemoryStat(V1_MEMORY_STAT, "v1"), {
      inactiveFile: 169185280n,
      rss: 7409664n,
      cache: 265658368n,
      mappedFile: 55193600n,
      pageFaults: 77669257n,
      majorPageFaults: 4051n,
      hierarchicalLimit: 9223372036854771712n,
    });
  });
  test("v2 memory.stat: rss is anon", () => {
    assert.deepEqual(parseMemoryStat(V2_MEMORY_STAT, "v2"), {
      inactiveFile: 4448256n,
      rss: 1851392n,
      cache: 5652480n,
      mappedFile: 3244032n,
      pageFaults: 2409n,
      majorPageFaults: 11n,
    });
  });
  test("a format read as the other is refused, naming the key", () => {
    assert.throws(() => parseMemoryStat(V2_MEMORY_STAT, "v1"), /memory\.stat has no "total_inactive_file"/);
    assert.throws(() => parseMemoryStat("total_rss 1\n", "v2"), /memory\.stat has no "inactive_file"/);
  });
});

describe("memory arithmetic", () => {
  test("working set is usage minus inactive file, floored at 0", () => {
    assert.equal(workingSetBytes(1000n, 300n), 700n);
    assert.equal(workingSetBytes(300n, 300n), 0n);
    assert.equal(workingSetBytes(100n, 300n), 0n);
  });
  test("available is limit minus working set, floored; none without a limit", () => {
    assert.equal(availableBytes(LIMITED, 100n), LIMITED - 100n);
    assert.equal(availableBytes(100n, 200n), 0n);
    assert.equal(availableBytes(undefined, 1n), undefined);
    // v1's "unlimited" (PAGE_COUNTER_MAX pages) and anything above 2^62.
    assert.equal(availableBytes(9223372036854771712n, 1n), undefined);
    assert.equal(availableBytes((1n << 62n) + 1n, 1n), undefined);
    assert.equal(availableBytes(1n << 62n, 0n), 1n << 62n);
  });
  test("v1: the limit is hierarchical_memory_limit", () => {
    const unlimited = memoryStats("v1", 200_000_000n, V1_MEMORY_STAT);
    assert.deepEqual(unlimited, {
      usageBytes: 200_000_000n,
      workingSetBytes: 200_000_000n - 169185280n,
      rssBytes: 7409664n,
      cacheBytes: 265658368n,
      mappedFileBytes: 55193600n,
      pageFaults: 77669257n,
      majorPageFaults: 4051n,
    });
    const limited = memoryStats(
      "v1",
      200_000_000n,
      V1_MEMORY_STAT.replace("hierarchical_memory_limit 9223372036854771712", `hierarchical_memory_limit ${LIMITED}`),
    );
    assert.equal(limited.availableBytes, LIMITED - (200_000_000n - 169185280n));
    // The usage read before the stat can be below inactive_file.
    assert.equal(memoryStats("v1", 1000n, V1_MEMORY_STAT).workingSetBytes, 0n);
  });
  test("v2: the limit is memory.max, given apart", () => {
    const s = memoryStats("v2", 8_000_000n, V2_MEMORY_STAT, LIMITED);
    assert.equal(s.workingSetBytes, 8_000_000n - 4448256n);
    assert.equal(s.availableBytes, LIMITED - s.workingSetBytes);
    assert.equal(memoryStats("v2", 8_000_000n, V2_MEMORY_STAT).availableBytes, undefined);
  });
});

describe("usageNanoCores", () => {
  const at = (timestampNs: bigint, usageCoreNanoSeconds: bigint) => ({ timestampNs, usageCoreNanoSeconds });
  test("nanocores from two samples", () => {
    // Half a core for 2 s; two cores for 100 ms; idle.
    assert.equal(nanoCores(at(1_000_000_000n, 5n), at(3_000_000_000n, 1_000_000_005n)), 500_000_000n);
    assert.equal(nanoCores(at(0n, 0n), at(100_000_000n, 200_000_000n)), 2_000_000_000n);
    assert.equal(nanoCores(at(0n, 7n), at(10n, 7n)), 0n);
    // Rounded down, exact in bigint at the 64-bit counters' range.
    assert.equal(nanoCores(at(0n, 0n), at(3n, 1n)), 333_333_333n);
    assert.equal(nanoCores(at(0n, 18446744073709551000n), at(1_000_000_000n, 18446744073709551615n)), 615n);
  });
  test("no rate for a counter reset or samples out of order", () => {
    assert.equal(nanoCores(at(0n, 1_000n), at(10n, 10n)), undefined, "the counter went down: a new cgroup");
    assert.equal(nanoCores(at(10n, 0n), at(10n, 5n)), undefined, "same instant");
    assert.equal(nanoCores(at(10n, 0n), at(5n, 5n)), undefined, "earlier");
  });
  test("the cache: none for the first sample, then the rate since the last", () => {
    const c = new CpuSampleCache();
    assert.equal(c.update("a", at(0n, 0n)), undefined);
    assert.equal(c.update("a", at(1_000_000_000n, 250_000_000n)), 250_000_000n);
    assert.equal(c.update("a", at(2_000_000_000n, 1_250_000_000n)), 1_000_000_000n);
    // A restart: the counter starts again; no rate, but the next one is right.
    assert.equal(c.update("a", at(3_000_000_000n, 10n)), undefined);
    assert.equal(c.update("a", at(4_000_000_000n, 500_000_010n)), 500_000_000n);
  });
  test("the cache keeps the newer sample when an older one arrives late", () => {
    const c = new CpuSampleCache();
    c.update("a", at(2_000_000_000n, 2_000_000_000n));
    assert.equal(c.update("a", at(1_000_000_000n, 1_000_000_000n)), undefined);
    assert.equal(c.update("a", at(3_000_000_000n, 2_500_000_000n)), 500_000_000n);
  });
  test("the cache forgets and retains by id", () => {
    const c = new CpuSampleCache();
    for (const id of ["a", "b", "c"]) c.update(id, at(0n, 0n));
    c.forget("b");
    assert.equal(c.size, 2);
    c.retain(["c", "z"]);
    assert.equal(c.size, 1);
    assert.equal(c.update("a", at(1n, 1n)), undefined, "a was dropped");
    assert.equal(c.update("c", at(1_000_000_000n, 1_000_000_000n)), 1_000_000_000n);
  });
  test("the stats clock moves forward in nanoseconds of wall time", () => {
    const a = statsClockNs();
    const b = statsClockNs();
    assert.ok(b >= a);
    const wall = BigInt(Date.now()) * 1_000_000n;
    assert.ok(a > wall - 5_000_000_000n && a < wall + 5_000_000_000n, `${a} is near the wall clock ${wall}`);
  });
});

/** A member's stats: cpu and mem given, the rest derived from mem or overridden. */
function stats(cpu: bigint, mem: bigint, over: Partial<CgroupStats> = {}): CgroupStats {
  return {
    timestampNs: 1n,
    cpu: { usageCoreNanoSeconds: cpu },
    memory: {
      usageBytes: mem,
      workingSetBytes: mem / 2n,
      rssBytes: mem / 4n,
      cacheBytes: mem / 8n,
      mappedFileBytes: mem / 16n,
      pageFaults: 10n,
      majorPageFaults: 1n,
      availableBytes: 99n,
    },
    ...over,
  };
}

describe("aggregation", () => {
  test("sums counters, keeps the latest timestamp, drops availableBytes", () => {
    const sum = sumCgroupStats([
      stats(100n, 800n, { timestampNs: 5n, pids: { current: 2n }, oomKills: 0n }),
      stats(50n, 400n, { timestampNs: 7n, pids: { current: 3n }, oomKills: 1n }),
    ]);
    assert.deepEqual(sum, {
      timestampNs: 7n,
      cpu: { usageCoreNanoSeconds: 150n },
      memory: { usageBytes: 1200n, workingSetBytes: 600n, rssBytes: 300n, cacheBytes: 150n, mappedFileBytes: 75n, pageFaults: 20n, majorPageFaults: 2n },
      pids: { current: 5n },
      oomKills: 1n,
    });
  });
  test("pids and OOM kills only when every member has them; nothing for no members", () => {
    const sum = sumCgroupStats([stats(1n, 2n, { pids: { current: 2n } }), stats(1n, 2n, { oomKills: 3n })]);
    assert.equal(sum?.pids, undefined);
    assert.equal(sum?.oomKills, undefined);
    assert.equal(sumCgroupStats([]), undefined);
  });
});

describe("cgroups paths", () => {
  const refused = (p: string) => () => checkCgroupsPath(p);
  test("absolute cgroupfs paths only", () => {
    checkCgroupsPath("/hull/abc");
    checkCgroupsPath("/kubepods/burstable/pod123/hull-abc");
    const invalid = (e: unknown) => e instanceof HullError && e.reason === "INVALID_ARGUMENT" && e.metadata.field === "cgroupsPath";
    assert.throws(refused("hull/abc"), invalid);
    assert.throws(refused("system.slice:hull:abc"), invalid);
    assert.throws(refused("/hull/../../etc"), invalid);
  });
});

describe("reads from fixture trees", () => {
  let base = "";
  const write = async (path: string, text: string): Promise<void> => {
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, text);
  };
  const now = (): bigint => 42n;

  before(async () => {
    base = await mkdtemp("/tmp/hcg-");
    const v1 = join(base, "v1");
    await write(join(v1, "cpuacct/hull/c1/cpuacct.usage"), "123456789\n");
    await write(join(v1, "memory/hull/c1/memory.usage_in_bytes"), "200000000\n");
    await write(
      join(v1, "memory/hull/c1/memory.stat"),
      V1_MEMORY_STAT.replace("hierarchical_memory_limit 9223372036854771712", `hierarchical_memory_limit ${LIMITED}`),
    );
    await write(join(v1, "memory/hull/c1/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    await write(join(v1, "pids/hull/c1/pids.current"), "3\n");
    // c2: no pids cgroup, a kernel without oom_kill; c3: cpuacct's file missing in a cgroup that exists.
    await write(join(v1, "cpuacct/hull/c2/cpuacct.usage"), "1000\n");
    await write(join(v1, "memory/hull/c2/memory.usage_in_bytes"), "4096\n");
    await write(join(v1, "memory/hull/c2/memory.stat"), V1_MEMORY_STAT);
    await write(join(v1, "memory/hull/c2/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n");
    await mkdir(join(v1, "cpuacct/hull/c3"), { recursive: true });
    await write(join(v1, "memory/hull/c3/memory.usage_in_bytes"), "4096\n");
    await write(join(v1, "memory/hull/c3/memory.stat"), V1_MEMORY_STAT);
    const v2 = join(base, "v2");
    await write(join(v2, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    await write(join(v2, "hull/c1/cpu.stat"), V2_CPU_STAT);
    await write(join(v2, "hull/c1/memory.current"), "8000000\n");
    await write(join(v2, "hull/c1/memory.stat"), V2_MEMORY_STAT);
    await write(join(v2, "hull/c1/memory.max"), "max\n");
    await write(join(v2, "hull/c1/memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n");
    await write(join(v2, "hull/c1/pids.current"), "1\n");
  });
  after(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  test("the mode comes from the root's cgroup.controllers", async () => {
    assert.equal(await detectCgroupMode(join(base, "v1")), "v1");
    assert.equal(await detectCgroupMode(join(base, "v2")), "v2");
  });
  test("v1: each controller's hierarchy", async () => {
    const s = await readCgroupStats("/hull/c1", { root: join(base, "v1"), now });
    assert.deepEqual(s, {
      timestampNs: 42n,
      cpu: { usageCoreNanoSeconds: 123456789n },
      memory: {
        usageBytes: 200000000n,
        workingSetBytes: 200000000n - 169185280n,
        rssBytes: 7409664n,
        cacheBytes: 265658368n,
        mappedFileBytes: 55193600n,
        pageFaults: 77669257n,
        majorPageFaults: 4051n,
        availableBytes: LIMITED - (200000000n - 169185280n),
      },
      pids: { current: 3n },
      oomKills: 2n,
    });
    const bare = await readCgroupStats("/hull/c2", { root: join(base, "v1"), now });
    assert.equal(bare?.pids, undefined);
    assert.equal(bare?.oomKills, undefined);
    assert.equal(bare?.memory.availableBytes, undefined);
    assert.equal(cpuSampleOf(bare ?? assert.fail("read")).usageCoreNanoSeconds, 1000n);
  });
  test("v2: the unified tree", async () => {
    const s = await readCgroupStats("/hull/c1", { root: join(base, "v2"), now });
    assert.deepEqual(s, {
      timestampNs: 42n,
      cpu: { usageCoreNanoSeconds: 7343056000n },
      memory: {
        usageBytes: 8000000n,
        workingSetBytes: 8000000n - 4448256n,
        rssBytes: 1851392n,
        cacheBytes: 5652480n,
        mappedFileBytes: 3244032n,
        pageFaults: 2409n,
        majorPageFaults: 11n,
      },
      pids: { current: 1n },
      oomKills: 1n,
    });
  });
  test("a cgroup that does not exist is undefined; a missing file of one that does is an error naming it", async () => {
    assert.equal(await readCgroupStats("/hull/gone", { root: join(base, "v1"), now }), undefined);
    assert.equal(await readCgroupStats("/hull/gone", { root: join(base, "v2"), now }), undefined);
    await assert.rejects(
      readCgroupStats("/hull/c3", { root: join(base, "v1"), now }),
      (e: unknown) =>
        e instanceof HullError && e.reason === "INTERNAL" && e.metadata.cgroup === "/hull/c3" && e.message.includes("cpuacct/hull/c3/cpuacct.usage"),
    );
  });
  test("a sum over the cgroups that exist", async () => {
    const opts = { root: join(base, "v1"), now };
    const sum = await readCgroupsSum(["/hull/c1", "/hull/c2", "/hull/gone"], opts);
    assert.equal(sum?.cpu.usageCoreNanoSeconds, 123456789n + 1000n);
    assert.equal(sum?.memory.usageBytes, 200000000n + 4096n);
    assert.equal(await readCgroupsSum(["/hull/gone"], opts), undefined);
  });
});
