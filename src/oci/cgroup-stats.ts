// A container's (or a pod's) resource usage read from its cgroup, for the
// CRI's ContainerStats, PodSandboxStats and ListContainerStats. The numbers
// are the ones the kubelet and cAdvisor compute, so a kubelet sees the same
// values from hull as from CRI-O or containerd:
//   - CPU: cumulative core-nanoseconds (v1 cpuacct.usage; v2 cpu.stat
//     usage_usec × 1000). usageNanoCores needs two samples: cpu-rate.ts.
//   - Memory: the working set is usage minus inactive file pages, floored at
//     0 (cAdvisor's and the kubelet's eviction signal); rss, page cache,
//     mapped files, page faults and major page faults from memory.stat;
//     availableBytes = limit − working set only when a limit is set.
// Paths are the OCI spec's cgroupsPath under runc's cgroupfs driver (hull's
// containers get /hull/<id>): v1 puts it under each controller's hierarchy,
// v2 under the one unified tree.
//
// Parsing is pure (parseFlatKeyed, parseCpuStat, parseMemoryStat, ...) and
// apart from the reads, so the arithmetic is unit-tested on fixtures of both
// formats without root.
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { HullError, invalidArgument } from "../errors.js";

export const CGROUP_ROOT = "/sys/fs/cgroup";

/** v1 covers hybrid hosts too: controllers under <root>/<controller>/, whatever the cgroup2 tree holds. */
export type CgroupMode = "v1" | "v2";

export interface MemoryStats {
  usageBytes: bigint;
  workingSetBytes: bigint;
  rssBytes: bigint;
  /** Page cache (cAdvisor's container_memory_cache). */
  cacheBytes: bigint;
  /** Memory-mapped files (cAdvisor's container_memory_mapped_file). */
  mappedFileBytes: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  /** limit − working set (floored at 0); absent when the cgroup has no memory limit. */
  availableBytes?: bigint;
}

export interface CgroupStats {
  /** Wall-clock Unix nanoseconds, taken just before the CPU counter was read (see statsClockNs). */
  timestampNs: bigint;
  cpu: { usageCoreNanoSeconds: bigint };
  memory: MemoryStats;
  /** Absent where the pids controller is not mounted or has no cgroup at this path. */
  pids?: { current: bigint };
  /** Processes the OOM killer killed in this cgroup (`oom_kill`); absent where the kernel does not count them. */
  oomKills?: bigint;
}

// ---- The clock -----------------------------------------------------------

// Wall clock anchored once and advanced by the monotonic clock: the CRI's
// timestamps are Unix nanoseconds, and usageNanoCores divides by the
// difference of two of them, which a stepped wall clock (NTP, a VM resumed)
// would make zero, negative or huge.
const anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Unix nanoseconds that never go backwards within this process. */
export function statsClockNs(): bigint {
  return anchorNs + process.hrtime.bigint();
}

// ---- Pure parsing and arithmetic ----------------------------------------

/**
 * Parses the "key value" lines of memory.stat, cpu.stat, memory.events and
 * memory.oom_control. Lines of another shape are skipped (a newer kernel may
 * add some); a key a caller needs and does not find is an error there.
 */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) ([0-9]+)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], BigInt(m[2]));
  }
  return out;
}

function need(stats: Map<string, bigint>, key: string, file: string): bigint {
  const v = stats.get(key);
  if (v === undefined) throw new HullError("INTERNAL", `${file} has no "${key}" line`, { file });
  return v;
}

/** A file holding one counter (cpuacct.usage, memory.usage_in_bytes, memory.current, pids.current). */
export function parseCounter(text: string, file: string): bigint {
  const t = text.trim();
  if (!/^[0-9]+$/.test(t)) throw new HullError("INTERNAL", `${file} holds ${JSON.stringify(t.slice(0, 40))}, not a number`, { file });
  return BigInt(t);
}

/** v2's memory.max: a number of bytes, or "max" (no limit) as undefined. */
export function parseLimit(text: string, file: string): bigint | undefined {
  return text.trim() === "max" ? undefined : parseCounter(text, file);
}

/** v2 cpu.stat → cumulative CPU time in nanoseconds (the kernel counts microseconds there). */
export function parseCpuStat(text: string): bigint {
  return need(parseFlatKeyed(text), "usage_usec", "cpu.stat") * 1000n;
}

export interface MemoryStatFields {
  inactiveFile: bigint;
  rss: bigint;
  cache: bigint;
  mappedFile: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  /** v1's hierarchical_memory_limit: the tightest limit of the cgroup and its ancestors. */
  hierarchicalLimit?: bigint;
}

/**
 * The fields of memory.stat that the stats need. v1 reads the total_* keys,
 * which include the cgroup's descendants (a pod's cgroup holds its
 * containers), as cAdvisor does; v2's keys are hierarchical already, and
 * its rss is "anon", its cache "file" and its mapped files "file_mapped"
 * (cAdvisor's mapping).
 */
export function parseMemoryStat(text: string, mode: CgroupMode): MemoryStatFields {
  const s = parseFlatKeyed(text);
  if (mode === "v1") {
    const limit = s.get("hierarchical_memory_limit");
    return {
      inactiveFile: need(s, "total_inactive_file", "memory.stat"),
      rss: need(s, "total_rss", "memory.stat"),
      cache: need(s, "total_cache", "memory.stat"),
      mappedFile: need(s, "total_mapped_file", "memory.stat"),
      pageFaults: need(s, "total_pgfault", "memory.stat"),
      majorPageFaults: need(s, "total_pgmajfault", "memory.stat"),
      ...(limit !== undefined ? { hierarchicalLimit: limit } : {}),
    };
  }
  return {
    inactiveFile: need(s, "inactive_file", "memory.stat"),
    rss: need(s, "anon", "memory.stat"),
    cache: need(s, "file", "memory.stat"),
    mappedFile: need(s, "file_mapped", "memory.stat"),
    pageFaults: need(s, "pgfault", "memory.stat"),
    majorPageFaults: need(s, "pgmajfault", "memory.stat"),
  };
}

/** cAdvisor's working set: usage minus inactive file pages, never below 0 (the two are read at different instants). */
export function workingSetBytes(usageBytes: bigint, inactiveFileBytes: bigint): bigint {
  return usageBytes > inactiveFileBytes ? usageBytes - inactiveFileBytes : 0n;
}

// v1 reports "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with
// 4 KiB pages), not a fixed number; containerd's CRI treats every limit above
// 2^62 as unlimited, and so does hull.
const UNLIMITED_ABOVE = 1n << 62n;

/** limit − working set, floored at 0; undefined without a limit (the CRI field stays unset, as containerd leaves it). */
export function availableBytes(limitBytes: bigint | undefined, workingSet: bigint): bigint | undefined {
  if (limitBytes === undefined || limitBytes > UNLIMITED_ABOVE) return undefined;
  return limitBytes > workingSet ? limitBytes - workingSet : 0n;
}

/** The memory stats from a cgroup's usage, memory.stat text and limit (undefined: none). */
export function memoryStats(mode: CgroupMode, usageBytes: bigint, memoryStatText: string, limitBytes?: bigint): MemoryStats {
  const f = parseMemoryStat(memoryStatText, mode);
  const ws = workingSetBytes(usageBytes, f.inactiveFile);
  const available = availableBytes(mode === "v1" ? f.hierarchicalLimit : limitBytes, ws);
  return {
    usageBytes,
    workingSetBytes: ws,
    rssBytes: f.rss,
    cacheBytes: f.cache,
    mappedFileBytes: f.mappedFile,
    pageFaults: f.pageFaults,
    majorPageFaults: f.majorPageFaults,
    ...(available !== undefined ? { availableBytes: available } : {}),
  };
}

/**
 * The sum of several cgroups' stats (a pod's containers, where the pod has
 * no cgroup of its own to read). A pod with a cgroup parent is better read
 * directly with readCgroupStats: its v1 total_* and v2 counters include
 * every descendant, and its limit gives availableBytes. Here availableBytes
 * is left out (the containers' own limits do not add up to a pod's), pids
 * and oomKills are summed only when every member has them, and the
 * timestamp is the latest member's. Undefined for no members.
 */
export function sumCgroupStats(members: readonly CgroupStats[]): CgroupStats | undefined {
  if (members.length === 0) return undefined;
  const total = (pick: (s: CgroupStats) => bigint): bigint => members.reduce((acc, s) => acc + pick(s), 0n);
  const pidsAll = members.every((s) => s.pids !== undefined);
  const oomAll = members.every((s) => s.oomKills !== undefined);
  return {
    timestampNs: members.reduce((acc, s) => (s.timestampNs > acc ? s.timestampNs : acc), 0n),
    cpu: { usageCoreNanoSeconds: total((s) => s.cpu.usageCoreNanoSeconds) },
    memory: {
      usageBytes: total((s) => s.memory.usageBytes),
      workingSetBytes: total((s) => s.memory.workingSetBytes),
      rssBytes: total((s) => s.memory.rssBytes),
      cacheBytes: total((s) => s.memory.cacheBytes),
      mappedFileBytes: total((s) => s.memory.mappedFileBytes),
      pageFaults: total((s) => s.memory.pageFaults),
      majorPageFaults: total((s) => s.memory.majorPageFaults),
    },
    ...(pidsAll ? { pids: { current: total((s) => s.pids?.current ?? 0n) } } : {}),
    ...(oomAll ? { oomKills: total((s) => s.oomKills ?? 0n) } : {}),
  };
}

/**
 * Refuses what runc's cgroupfs driver would not place under the root as
 * given: a relative path (runc makes it relative to its own cgroup), the
 * systemd driver's "slice:prefix:name" form, and ".." components.
 */
export function checkCgroupsPath(cgroupsPath: string): void {
  if (!cgroupsPath.startsWith("/")) throw invalidArgument("cgroupsPath", `${JSON.stringify(cgroupsPath)} is not an absolute cgroupfs path`);
  if (cgroupsPath.includes(":")) throw invalidArgument("cgroupsPath", `${JSON.stringify(cgroupsPath)} is a systemd-driver path; hull drives cgroupfs`);
  if (cgroupsPath.split("/").some((c) => c === "..")) throw invalidArgument("cgroupsPath", `${JSON.stringify(cgroupsPath)} climbs out with ".."`);
}

// ---- Reading the files ---------------------------------------------------

/** v2 when <root>/cgroup.controllers exists (the root is a cgroup2 mount); v1 (plain or hybrid) otherwise. */
export async function detectCgroupMode(root = CGROUP_ROOT): Promise<CgroupMode> {
  try {
    await stat(join(root, "cgroup.controllers"));
    return "v2";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "v1";
    throw new HullError("INTERNAL", `detecting the cgroup mode at ${root}: ${(err as Error).message}`, {}, { cause: err });
  }
}

let hostMode: Promise<CgroupMode> | undefined;

/** The host's mode, detected once: it cannot change while the machine runs. */
export function hostCgroupMode(): Promise<CgroupMode> {
  hostMode ??= detectCgroupMode().catch((err: unknown) => {
    hostMode = undefined; // a failed probe is retried, not remembered
    throw err;
  });
  return hostMode;
}

/** Thrown out of a read when the cgroup (the file's directory) no longer exists. */
class CgroupGone extends Error {}

export interface ReadCgroupOptions {
  /** Defaults to /sys/fs/cgroup; tests point it at a fixture tree. */
  root?: string;
  /** Defaults to the mode detected at root (once, for the host's root). */
  mode?: CgroupMode;
  /** Defaults to statsClockNs. */
  now?: () => bigint;
}

/**
 * Reads the usage of the cgroup at cgroupsPath. Undefined means the cgroup
 * does not exist: the container was never created, or it exited and hull's
 * cleanup ran `runc delete`, which removes it. The caller then answers
 * without CPU and memory, as CRI-O and containerd do for a stopped container. A cgroup that exists but lacks a
 * file the stats need (a controller not mounted or not enabled for it), and
 * any other failure, is a HullError naming the cgroup and the file.
 */
export async function readCgroupStats(cgroupsPath: string, opts: ReadCgroupOptions = {}): Promise<CgroupStats | undefined> {
  checkCgroupsPath(cgroupsPath);
  const root = opts.root ?? CGROUP_ROOT;
  const mode = opts.mode ?? (opts.root === undefined ? await hostCgroupMode() : await detectCgroupMode(root));
  const now = opts.now ?? statsClockNs;
  const rel = cgroupsPath.replace(/^\/+/, "");
  try {
    return mode === "v1" ? await readV1(root, rel, now) : await readV2(join(root, rel), now);
  } catch (err) {
    if (err instanceof CgroupGone) return undefined;
    if (err instanceof HullError)
      throw new HullError(err.reason, `reading the stats of cgroup ${cgroupsPath}: ${err.message}`, { ...err.metadata, cgroup: cgroupsPath }, { cause: err });
    throw new HullError("INTERNAL", `reading the stats of cgroup ${cgroupsPath}: ${(err as Error).message}`, { cgroup: cgroupsPath }, { cause: err });
  }
}

/**
 * A file the stats need. Missing with its directory gone too: the cgroup was
 * removed (CgroupGone). Missing in a directory that exists: a controller file
 * that is not there, an error.
 */
async function readRequired(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (!isGone(err)) throw readError(path, err);
    if (!(await exists(dirname(path)))) throw new CgroupGone();
    throw new HullError("INTERNAL", `${path} does not exist though its cgroup does (is the controller mounted and enabled?)`, { file: path });
  }
}

/** A file the stats can do without (pids, OOM counts): undefined where it is missing. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isGone(err)) return undefined;
    throw readError(path, err);
  }
}

// ENODEV: kernfs's answer for a file whose cgroup was removed between the
// open and the read; the cgroup is gone just as with ENOENT.
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENODEV";
}

function readError(path: string, err: unknown): HullError {
  return new HullError("INTERNAL", `reading ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new HullError("INTERNAL", `checking ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
}

function optionalCounter(text: string | undefined, file: string): bigint | undefined {
  return text === undefined ? undefined : parseCounter(text, file);
}

async function readV1(root: string, rel: string, now: () => bigint): Promise<CgroupStats> {
  const cpuacct = join(root, "cpuacct", rel);
  const memory = join(root, "memory", rel);
  const timestampNs = now();
  const [cpuText, usageText, statText, oomText, pidsText] = await Promise.all([
    readRequired(join(cpuacct, "cpuacct.usage")),
    readRequired(join(memory, "memory.usage_in_bytes")),
    readRequired(join(memory, "memory.stat")),
    readOptional(join(memory, "memory.oom_control")),
    readOptional(join(root, "pids", rel, "pids.current")),
  ]);
  const usage = parseCounter(usageText, "memory.usage_in_bytes");
  const oomKills = oomText === undefined ? undefined : parseFlatKeyed(oomText).get("oom_kill");
  const pids = optionalCounter(pidsText, "pids.current");
  return {
    timestampNs,
    cpu: { usageCoreNanoSeconds: parseCounter(cpuText, "cpuacct.usage") },
    memory: memoryStats("v1", usage, statText),
    ...(pids !== undefined ? { pids: { current: pids } } : {}),
    ...(oomKills !== undefined ? { oomKills } : {}),
  };
}

async function readV2(dir: string, now: () => bigint): Promise<CgroupStats> {
  const timestampNs = now();
  const [cpuText, usageText, statText, maxText, eventsText, pidsText] = await Promise.all([
    readRequired(join(dir, "cpu.stat")),
    readRequired(join(dir, "memory.current")),
    readRequired(join(dir, "memory.stat")),
    readOptional(join(dir, "memory.max")),
    readOptional(join(dir, "memory.events")),
    readOptional(join(dir, "pids.current")),
  ]);
  const usage = parseCounter(usageText, "memory.current");
  const oomKills = eventsText === undefined ? undefined : parseFlatKeyed(eventsText).get("oom_kill");
  const pids = optionalCounter(pidsText, "pids.current");
  const limit = maxText === undefined ? undefined : parseLimit(maxText, "memory.max");
  return {
    timestampNs,
    cpu: { usageCoreNanoSeconds: parseCpuStat(cpuText) },
    // v2's memory.max is the cgroup's own limit (an ancestor's tighter one is not seen here).
    memory: memoryStats("v2", usage, statText, limit),
    ...(pids !== undefined ? { pids: { current: pids } } : {}),
    ...(oomKills !== undefined ? { oomKills } : {}),
  };
}

/**
 * Reads several cgroups and sums those that exist (sumCgroupStats): a pod's
 * containers when the pod has no cgroup parent. Undefined when none exists.
 */
export async function readCgroupsSum(cgroupsPaths: readonly string[], opts: ReadCgroupOptions = {}): Promise<CgroupStats | undefined> {
  const read = await Promise.all(cgroupsPaths.map((p) => readCgroupStats(p, opts)));
  return sumCgroupStats(read.filter((s): s is CgroupStats => s !== undefined));
}
