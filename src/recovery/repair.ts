// What hulld can see of its containers outside the store (conmon processes,
// overlay mounts) and the repairs that tear a half-made or leftover runtime
// container down. Used by recovery at start and by init when it fails.
import { readdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { execa } from "execa";
import type { ContainerRecord } from "../store/record.js";
import { removeExitFile } from "../oci/exits.js";
import { HullError } from "../errors.js";
import { unmountRootfs } from "../ops/rootfs.js";
import type { Engine } from "../engine/engine.js";

/** How long a monitor may take to exit by itself once its container is deleted. */
const MONITOR_EXIT_GRACE_MS = 2000;

/** A conmon process working for this hulld (its argv names one of hulld's dirs). */
export interface MonitorProcess {
  pid: number;
  containerId: string;
  /** An exec session's monitor rather than the container's own. */
  exec: boolean;
}

async function cmdline(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter((a) => a !== "");
  } catch {
    return [];
  }
}

/** Every conmon whose arguments name a path under one of `dirs`, from /proc. */
export async function scanMonitors(dirs: string[]): Promise<MonitorProcess[]> {
  const names = await readdir("/proc");
  const out: MonitorProcess[] = [];
  await Promise.all(
    names.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      const argv = await cmdline(Number(name));
      if (argv.length === 0 || !basename(argv[0] ?? "").includes("conmon")) return;
      if (!argv.some((a) => dirs.some((d) => a === d || a.startsWith(`${d}/`)))) return;
      const c = argv.indexOf("-c");
      const containerId = c >= 0 ? argv[c + 1] : undefined;
      if (containerId === undefined) return;
      out.push({ pid: Number(name), containerId, exec: argv.includes("--exec") });
    }),
  );
  return out;
}

/** The monitors of one container (its own and its exec sessions'). */
export async function monitorsOf(engine: Engine, id: string): Promise<MonitorProcess[]> {
  const { root, runRoot } = engine.deps.paths;
  return (await scanMonitors([root, runRoot])).filter((m) => m.containerId === id);
}

/** Whether pid runs (a zombie has exited; only its parent's wait is missing). */
export async function isAlive(pid: number): Promise<boolean> {
  if (pid <= 1) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Waits up to ms for every pid to exit, then SIGKILLs those left; returns how many had to be killed. */
export async function endMonitors(pids: number[], ms = MONITOR_EXIT_GRACE_MS): Promise<number> {
  const deadline = Date.now() + ms;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = (await Promise.all(left.map(async (p) => ((await isAlive(p)) ? p : 0)))).filter((p) => p > 0);
  }
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  return left.length;
}

/**
 * Deletes id's runtime container (runc delete --force kills its processes),
 * lets its monitors exit (SIGKILL after a grace) and drops the exit file
 * and socket link they may have left.
 */
export async function deleteRuntimeLeftovers(engine: Engine, id: string, monitors?: MonitorProcess[]): Promise<void> {
  const found = monitors ?? (await monitorsOf(engine, id));
  await engine.runtime.delete(id, true);
  await endMonitors(found.map((m) => m.pid));
  await removeExitFile(engine.deps.paths.exitDir, id);
  // conmon's link to the bundle (for the attach socket); a killed conmon leaves it behind.
  await rm(join(engine.deps.paths.socketDir, id), { force: true, recursive: true });
}

/**
 * Undoes an init that did not reach its CREATED save: the half-made runtime
 * container, its monitor and (where nothing else holds it) the overlay go;
 * the record stays in the state it had before the init, and the init intent
 * is cleared. Caller holds the lock.
 */
export async function undoInit(engine: Engine, rec: ContainerRecord): Promise<void> {
  try {
    await deleteRuntimeLeftovers(engine, rec.id);
    await unmountRootfs(engine, rec);
    await engine.store.setIntent(rec.id, null);
  } catch (err) {
    throw new HullError("INTERNAL", `undoing the cut init of container ${rec.id.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`, { container: rec.id }, { cause: err });
  }
}

/** Mount points at or below any of `dirs`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(dirs: string[]): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && dirs.some((d) => p === d || p.startsWith(`${d}/`)))
    .map((p) => p.replace(/\\040/g, " "))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts path; a busy mount is detached lazily so the sweep can go on. */
export async function unmountPath(path: string): Promise<void> {
  const r = await execa("umount", [path], { reject: false });
  if (r.exitCode === 0) return;
  const lazy = await execa("umount", ["-l", path], { reject: false });
  if (lazy.exitCode !== 0) throw new HullError("INTERNAL", `unmounting ${path} failed: ${r.stderr || r.stdout}; lazily: ${lazy.stderr || lazy.stdout}`);
}
