// conmon processes as the host shows them: found in /proc by their argv (a
// monitor outlives the hulld that started it, so nothing else remembers it),
// checked for life, and ended when their container is gone.
import { readdir, readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { MonitorProcess } from "./runtime.js";

/** How long a monitor may take to exit by itself once its container is deleted. */
const MONITOR_EXIT_GRACE_MS = 2000;

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
