// hull's own mounts: whether a path is one (overlays, pinned namespace
// files, a pod's /dev/shm), from /proc/self/mountinfo's field 5; and an
// image's layers seen read-only as one tree (image volumes, and the source
// of a user namespace's shifted copy).
import { readFile } from "node:fs/promises";
import { runCommand } from "../command.js";
import { HullError } from "../errors.js";

export async function isMounted(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  // mountinfo escapes spaces and the like as octal; hull's paths have none to escape.
  return info.split("\n").some((line) => line.split(" ")[4] === path);
}

/** Two or more layers (top first): a read-only overlay of them; one: its dir bound read-only. */
export async function mountLayersReadOnly(lowers: readonly string[], target: string, what: string): Promise<void> {
  const args =
    lowers.length >= 2 ? ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${lowers.join(":")}`, target] : ["--bind", "-o", "ro", lowers[0] ?? target, target];
  const r = await runCommand("mount", args);
  if (r.exitCode !== 0) throw new HullError("INTERNAL", `mounting ${what} at ${target} failed: ${r.stderr || r.stdout}`);
}
