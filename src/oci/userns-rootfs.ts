// What a user-namespaced container's rootfs needs from the host: a path
// container root may walk, and mount points made ahead of the runtime.
// runc creates a missing mount point (/proc, /etc/hosts, ...) from inside the
// container's user namespace, where container root is a host id that owns
// nothing in the image's layers: the mkdir fails with EACCES (the pause image
// has no /proc at all). containerd and CRI-O avoid it with idmapped or
// chowned layers; util-linux 2.38 here cannot make idmapped mounts
// (X-mount.idmap came with 2.39), so hulld, as host root, creates the missing
// points in the container's writable layer before the runtime runs.
import { lstat, mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { HullError } from "../errors.js";
import type { OciMount } from "./spec-types.js";

function isMissing(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === "ENOENT";
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** A bind mount of a file needs a file to mount on; everything else a directory. */
async function needsFile(m: OciMount): Promise<boolean> {
  const bind = m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
  if (!bind || m.source === undefined) return false;
  const st = await stat(m.source).catch(() => undefined);
  return st !== undefined && !st.isDirectory();
}

/**
 * Creates each mount's missing destination under rootfs. Components are
 * looked at with lstat and never followed: a symlink or a file on the way
 * stops that mount's walk (runc resolves symlinks inside the rootfs itself),
 * so nothing is ever created outside rootfs.
 */
export async function createMountpoints(rootfs: string, mounts: readonly OciMount[]): Promise<void> {
  for (const m of mounts) {
    const parts = posix
      .normalize(m.destination)
      .split("/")
      .filter((p) => p !== "" && p !== "." && p !== "..");
    let at = rootfs;
    for (const [i, part] of parts.entries()) {
      at = join(at, part);
      const st = await lstatOrUndefined(at);
      if (st !== undefined) {
        if (!st.isDirectory()) break;
        continue;
      }
      if (i === parts.length - 1 && (await needsFile(m))) await writeFile(at, "", { flag: "wx", mode: 0o644 });
      else await mkdir(at, { mode: 0o755 });
    }
  }
}

/**
 * Refuses early, naming the directory, when container root (a host id with
 * no rights in hulld's dirs) could not reach a rootfs under dir: runc's init
 * would fail with a bare EACCES. Every directory from / down to dir must be
 * searchable by others (hulld makes its own 0711, as containerd does).
 */
export async function checkSearchableByOthers(dir: string, what: string): Promise<void> {
  for (let at = dir; ; at = dirname(at)) {
    const st = await stat(at);
    if ((st.mode & 0o001) === 0)
      throw new HullError(
        "HOST_UNSUPPORTED",
        `${what}: ${at} is mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}, so root in a user namespace cannot reach the containers under ${dir}; make it searchable (chmod o+x) or choose a --root below searchable directories`,
        { path: at },
      );
    if (at === dirname(at)) return;
  }
}
