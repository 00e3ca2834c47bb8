// The host's device nodes, as a privileged container gets them (containerd's
// and Podman's WithAllDevices): every character and block device under /dev,
// except the ones runc sets up itself (pts, the console, the ptmx pair) and
// the ones that belong to the host session.
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { OciDevice } from "./spec-types.js";

const SKIP_DIRS = new Set(["pts", "shm", "mqueue", "fd"]);
const SKIP_NODES = new Set(["console", "ptmx", "tty"]);
const MAX_DEPTH = 3;

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
export function splitDevice(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

export async function readHostDevices(dir = "/dev", depth = 0): Promise<OciDevice[]> {
  const out: OciDevice[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    // A node can vanish between readdir and lstat (a hot-unplugged disk); it is simply not there.
    const st = await lstat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) continue;
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name) && depth < MAX_DEPTH) out.push(...(await readHostDevices(path, depth + 1)));
      continue;
    }
    if (!(st.isCharacterDevice() || st.isBlockDevice()) || (depth === 0 && SKIP_NODES.has(name))) continue;
    const { major, minor } = splitDevice(st.rdev);
    out.push({
      type: st.isBlockDevice() ? "b" : "c",
      path,
      major,
      minor,
      fileMode: Number(st.mode & 0o777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
    });
  }
  return out;
}
