// Mounts under hulld's dirs as the kernel lists them, for the sweep at start.
import { readFile } from "node:fs/promises";
import { runCommand } from "../command.js";
import { HullError } from "../errors.js";

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
  const r = await runCommand("umount", [path]);
  if (r.exitCode === 0) return;
  const lazy = await runCommand("umount", ["-l", path]);
  if (lazy.exitCode !== 0) throw new HullError("INTERNAL", `unmounting ${path} failed: ${r.stderr || r.stdout}; lazily: ${lazy.stderr || lazy.stdout}`);
}
