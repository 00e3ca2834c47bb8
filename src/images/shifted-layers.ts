// An image's layers with their ids shifted into a user namespace's range,
// for containers whose root is a mapped host id (a pod's user namespace).
// Without it, every file of the image is owned by host ids outside the
// range, shows as nobody, and container root can write nowhere but
// world-writable dirs. containers/storage does the same where idmapped
// mounts are missing (it copies layers with shifted ownership); this host's
// util-linux (2.38) cannot make idmapped mounts, so hull copies too: the
// layers are flattened once per container (an overlay of them, read-only,
// copied with cp -a) and each entry's owner moved by the mapping. The copy
// lives in the container's dir and goes with it; a marker written last
// makes a copy cut short by a crash be made again.
import { lchown, lstat, mkdir, readdir, rm, chmod, writeFile, access } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../command.js";
import { HullError } from "../errors.js";
import { isMounted, mountLayersReadOnly } from "./mounts.js";
import type { IdMappings, IdRange } from "../domain/spec-defaults.js";

const SETID_BITS = 0o6000;

/** The host id of a container id under a range; ids outside it stay as they are (they show as the overflow id). */
export function shiftId(id: number, range: IdRange): number {
  return id < range.size ? range.hostId + id : id;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function run(what: string, cmd: string, args: string[]): Promise<void> {
  const r = await runCommand(cmd, args);
  if (r.exitCode !== 0) throw new HullError("INTERNAL", `${what} failed: ${(r.stderr || r.stdout || `exit ${String(r.exitCode)}`).trim()}`);
}

/**
 * Moves the owner of every entry under dir (dir included) by the mapping;
 * chown's clearing of setuid/setgid bits is undone. A file with several
 * hard links is shifted once (a second shift would move it again wherever
 * the range starts inside itself, as the kubelet's 0→1000 ranges do).
 */
export async function shiftTree(dir: string, map: IdMappings, seen = new Set<string>()): Promise<void> {
  const st = await lstat(dir);
  if (!st.isDirectory() && st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
  }
  await lchown(dir, shiftId(st.uid, map.uid), shiftId(st.gid, map.gid));
  if (!st.isSymbolicLink() && (st.mode & SETID_BITS) !== 0) await chmod(dir, st.mode & 0o7777);
  if (!st.isDirectory()) return;
  for (const name of await readdir(dir)) await shiftTree(join(dir, name), map, seen);
}

/**
 * The lower dir of a user-namespaced container: the image's lowers (top
 * first) as one tree, ids shifted, under base. Made on first use, kept for
 * the container's later starts.
 */
export async function shiftedLower(lowers: readonly string[], base: string, map: IdMappings): Promise<string> {
  const tree = join(base, "shifted");
  const done = join(base, "shifted.done");
  if (await exists(done)) return tree;
  // A copy cut short by a crash: its flattening mount may still be up.
  const flat = join(base, "flatten");
  if (await isMounted(flat)) await run(`unmounting ${flat}`, "umount", [flat]);
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree, { recursive: true, mode: 0o755 });
  // The layers as the container sees them (whiteouts applied), read-only.
  await mkdir(flat, { recursive: true, mode: 0o700 });
  await mountLayersReadOnly(lowers, flat, "the image's layers for a user namespace");
  try {
    await run(`copying the image's layers for a user namespace`, "cp", ["-a", `${flat}/.`, tree]);
  } finally {
    await run(`unmounting ${flat}`, "umount", [flat]);
  }
  await rm(flat, { recursive: true, force: true });
  await shiftTree(tree, map);
  await writeFile(done, "");
  return tree;
}
