// Whether a path is a mount point, for hull's own mounts (overlays, pinned
// namespace files, a pod's /dev/shm), from /proc/self/mountinfo's field 5.
import { readFile } from "node:fs/promises";

export async function isMounted(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  // mountinfo escapes spaces and the like as octal; hull's paths have none to escape.
  return info.split("\n").some((line) => line.split(" ")[4] === path);
}
