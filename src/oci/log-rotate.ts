// Log rotation as the kubelet's container log manager does it
// (pkg/kubelet/logs/container_log_manager.go): the full file is renamed away
// and the monitor is told to reopen its path (conmon's control FIFO event 2),
// so conmon never truncates or replaces a file anyone may still be reading.
// Rotated files are PATH.1 (the newest) to PATH.KEEP; older ones are deleted.
//
// The renames are synchronous on purpose: together with the followers'
// synchronous opens (onBeforeRotate), a rotation is one step of hulld's event
// loop, so a follower in this process sees every generation of the file,
// however fast they come, and none twice.
import { existsSync, renameSync, unlinkSync } from "node:fs";

/** The i-th rotated file of the log at `path` (1 is the newest). */
export function rotatedLogPath(path: string, i: number): string {
  return `${path}.${i}`;
}

const beforeRotate = new Map<string, Set<() => void>>();

/**
 * Calls `fn` synchronously right before each rotation of the log at `path`,
 * while PATH still names the file about to be renamed: a follower takes an fd
 * of it there, so the file is readable to its end whatever happens to its
 * name later. Returns the unsubscribe function.
 */
export function onBeforeRotate(path: string, fn: () => void): () => void {
  let set = beforeRotate.get(path);
  if (!set) beforeRotate.set(path, (set = new Set()));
  set.add(fn);
  return () => {
    set.delete(fn);
    if (set.size === 0 && beforeRotate.get(path) === set) beforeRotate.delete(path);
  };
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/**
 * Renames the log at `path` to PATH.1, shifting older rotated files up and
 * deleting the one past `keep`. Returns false (and changes nothing) when
 * there is no file at `path`: a rotation whose reopen is still under way.
 * The caller then has the monitor reopen `path`.
 */
export function rotateLogFile(path: string, keep: number): boolean {
  if (!existsSync(path)) return false;
  for (const fn of beforeRotate.get(path) ?? []) fn();
  const oldest = rotatedLogPath(path, keep);
  try {
    unlinkSync(oldest);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(rotatedLogPath(path, i), rotatedLogPath(path, i + 1));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  renameSync(path, rotatedLogPath(path, 1));
  return true;
}
