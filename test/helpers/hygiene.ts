// Resource snapshots of one test hulld, for the leak checks in
// test/stress/hygiene.test.ts: its open fds and RSS, the mounts, conmon
// processes and runtime containers under its dirs, the files it keeps, and
// (with hulld stopped, since it holds LevelDB's lock) its store's keys.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readdir, readFile, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { Level } from "level";
import { HULLD_PATH, RUNTIME_ROOT_SUBDIR } from "./daemon.js";

const execFileP = promisify(execFile);

async function cmdline(pid: string): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

async function pids(): Promise<string[]> {
  return (await readdir("/proc")).filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid);
}

/** The pid of the hulld serving `socket` (daemonSuite runs it as a child process). */
export async function hulldPid(socket: string): Promise<number> {
  for (const pid of await pids()) {
    const argv = await cmdline(pid);
    const at = argv.indexOf("--socket");
    if (argv.includes(HULLD_PATH) && at >= 0 && argv[at + 1] === socket) return Number(pid);
  }
  throw new Error(`no hulld process serving ${socket} found in /proc`);
}

/**
 * What each open fd of pid points at, grouped ("socket", "anon_inode:inotify",
 * "pipe", or the file path with any container id collapsed): the counts say
 * what leaked, not just that something did.
 */
export async function openFds(pid: number): Promise<Map<string, number>> {
  const dir = `/proc/${pid}/fd`;
  const kinds = new Map<string, number>();
  for (const fd of await readdir(dir)) {
    let target: string;
    try {
      target = await readlink(join(dir, fd));
    } catch {
      continue; // closed while we looked
    }
    const kind = target.replace(/:\[\d+\]$/, "").replace(/[0-9a-f]{64}/g, "<id>");
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

/**
 * inotify watches pid holds (fs.watch): libuv shares one inotify fd among
 * them, so a leaked watcher shows here, not in the fd count.
 */
export async function inotifyWatches(pid: number): Promise<number> {
  const dir = `/proc/${pid}/fd`;
  let n = 0;
  for (const fd of await readdir(dir)) {
    const target = await readlink(join(dir, fd)).catch(() => "");
    if (!target.includes("inotify")) continue;
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, "utf8").catch(() => "");
    n += info.split("\n").filter((l) => l.startsWith("inotify wd:")).length;
  }
  return n;
}

export function total(counts: Map<string, number>): number {
  let n = 0;
  for (const v of counts.values()) n += v;
  return n;
}

/** Resident set size of pid in bytes (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m?.[1]) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

const under = (p: string, dirs: readonly string[]): boolean => dirs.some((d) => p === d || p.startsWith(`${d}/`));

/** Mount points at or below dirs (this process's mount namespace is hulld's). */
export async function mountsUnder(dirs: readonly string[]): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info
    .split("\n")
    .map((line) => line.split(" ")[4]?.replace(/\\040/g, " "))
    .filter((p): p is string => p !== undefined && under(p, dirs))
    .sort();
}

/** conmon processes whose argv mentions one of dirs, as "pid argv…". */
export async function conmonsFor(dirs: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await pids()) {
    const argv = await cmdline(pid);
    if (!basename(argv[0] ?? "").includes("conmon")) continue;
    const joined = argv.join(" ");
    if (dirs.some((d) => joined.includes(d))) found.push(`${pid} ${joined.slice(0, 160)}`);
  }
  return found.sort();
}

/** `runc --root <runRoot>/runc list -q`: the runtime containers of this daemon. */
export async function runtimeContainers(runRoot: string): Promise<string[]> {
  const { stdout } = await execFileP("runc", ["--root", join(runRoot, RUNTIME_ROOT_SUBDIR), "list", "-q"]);
  return stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
}

/**
 * Every file and directory below dir (relative paths), not descending into
 * mount points nor into `skip` (relative names, e.g. the LevelDB directory,
 * whose file names rotate with compactions).
 */
export async function filesUnder(dir: string, skip: readonly string[] = [], mounts: readonly string[] = []): Promise<string[]> {
  const out: string[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // removed while we walked
      throw err;
    }
    for (const e of entries) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      const a = join(abs, e.name);
      out.push(e.isDirectory() ? `${r}/` : r);
      if (e.isDirectory() && !skip.includes(r) && !mounts.includes(a)) await walk(a, r);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/**
 * Keys of a stopped hulld's store, counted by prefix ("ctr", "name", "evt",
 * "meta", ...). Opening it needs LevelDB's lock: stop hulld first.
 */
export async function storeKeyCounts(root: string): Promise<Record<string, number>> {
  const db = new Level<string, string>(join(root, "state.db"), { keyEncoding: "utf8", valueEncoding: "utf8", createIfMissing: false });
  await db.open();
  const counts: Record<string, number> = {};
  try {
    for await (const key of db.keys()) {
      const prefix = key.split("/")[0] ?? key;
      counts[prefix] = (counts[prefix] ?? 0) + 1;
    }
  } finally {
    await db.close();
  }
  return counts;
}

export interface Snapshot {
  fds: Map<string, number>;
  inotifyWatches: number;
  mounts: string[];
  conmons: string[];
  runtime: string[];
  rootFiles: string[];
  runRootFiles: string[];
}

/** Everything but the store (which needs hulld stopped) and RSS (sampled separately). */
export async function snapshot(pid: number, root: string, runRoot: string): Promise<Snapshot> {
  const dirs = [root, runRoot];
  const mounts = await mountsUnder(dirs);
  return {
    fds: await openFds(pid),
    inotifyWatches: await inotifyWatches(pid),
    mounts,
    conmons: await conmonsFor(dirs),
    runtime: await runtimeContainers(runRoot),
    rootFiles: await filesUnder(root, ["state.db"], mounts),
    runRootFiles: await filesUnder(runRoot, [], mounts),
  };
}

/** Lines "+x" / "-x" for what b has that a has not and the reverse. */
export function listDiff(a: readonly string[], b: readonly string[]): string[] {
  const sa = new Set(a);
  const sb = new Set(b);
  return [...b.filter((x) => !sa.has(x)).map((x) => `+${x}`), ...a.filter((x) => !sb.has(x)).map((x) => `-${x}`)];
}

/** Per-kind fd count changes, "kind: before → after". */
export function fdDiff(a: Map<string, number>, b: Map<string, number>): string[] {
  const kinds = new Set([...a.keys(), ...b.keys()]);
  return [...kinds].filter((k) => (a.get(k) ?? 0) !== (b.get(k) ?? 0)).map((k) => `${k}: ${a.get(k) ?? 0} → ${b.get(k) ?? 0}`);
}

export const MiB = 1024 * 1024;
