// hulld's log rotation (see oci/log-rotate.ts for how a file is rotated): a
// watch on the log of each container whose monitor runs with
// log_max_size_bytes set. When the file has reached the limit it is renamed
// away and conmon is told to reopen its path. This is the kubelet's scheme,
// not conmon's own --log-size-max (which replaces the file under readers).
// The limit is soft, as the kubelet's is: the file may pass it by what conmon
// writes before hulld's check runs. While hulld is down nothing is rotated;
// the first check after a restart catches up.
import { watch, type FSWatcher } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import type { ContainerRecord } from "../store/record.js";
import type { Runtime } from "../oci/runtime.js";
import { rotateLogFile } from "../oci/log-rotate.js";
import { mayHaveExited } from "../statemachine/states.js";
import type { StateBus } from "./bus.js";

/** The safety net when inotify cannot watch the directory (no watches left): slower, nothing lost. */
const POLL_MS = 1000;

/** log_max_files' default: one rotated file, as conmon-era hull kept none and the kubelet keeps several. */
export const DEFAULT_LOG_MAX_FILES = 1;

export interface LogRotatorDeps {
  bus: StateBus;
  runtime: Pick<Runtime, "reopenLog">;
  log: Logger;
}

interface Watched {
  id: string;
  path: string;
  maxBytes: number;
  keep: number;
  bundlePath: string;
  watcher: FSWatcher | undefined;
  poll: NodeJS.Timeout | undefined;
  checking: boolean;
  again: boolean;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

export class LogRotator {
  private readonly watched = new Map<string, Watched>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: LogRotatorDeps) {}

  /** Follows every container's state from now on, starting with `current` (the store after recovery). */
  start(current: ContainerRecord[]): void {
    this.unsubscribe = this.deps.bus.subscribeAll(
      (rec) => this.track(rec),
      (id) => this.untrack(id),
    );
    for (const rec of current) this.track(rec);
  }

  /** Watches the container's log while its monitor runs and it has a size limit; stops otherwise. */
  track(rec: ContainerRecord): void {
    const wanted = mayHaveExited(rec.state) && rec.config.logMaxSizeBytes > 0 && rec.logPath !== "";
    if (!wanted) return this.untrack(rec.id);
    if (this.watched.has(rec.id)) return;
    const w: Watched = {
      id: rec.id,
      path: rec.logPath,
      maxBytes: rec.config.logMaxSizeBytes,
      keep: rec.config.logMaxFiles > 0 ? rec.config.logMaxFiles : DEFAULT_LOG_MAX_FILES,
      bundlePath: rec.bundlePath,
      watcher: undefined,
      poll: undefined,
      checking: false,
      again: false,
    };
    this.watched.set(rec.id, w);
    w.watcher = this.watchDir(w);
    if (!w.watcher) w.poll = setInterval(() => this.schedule(w), POLL_MS).unref();
    // A restart or a late watch may find the file past its limit already.
    this.schedule(w);
  }

  untrack(id: string): void {
    const w = this.watched.get(id);
    if (!w) return;
    this.watched.delete(id);
    w.watcher?.close();
    if (w.poll) clearInterval(w.poll);
  }

  /** Logs being watched: lets tests prove an exited container left no watch behind. */
  get watchCount(): number {
    return this.watched.size;
  }

  close(): void {
    this.unsubscribe?.();
    for (const id of [...this.watched.keys()]) this.untrack(id);
  }

  /** A directory watch sees the file's writes and its re-creation by conmon's reopen alike. */
  private watchDir(w: Watched): FSWatcher | undefined {
    const name = basename(w.path);
    try {
      const watcher = watch(dirname(w.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.schedule(w);
      });
      watcher.on("error", (err) => {
        this.deps.log.warn({ err, container: w.id, path: w.path }, "log rotation: the watch failed; polling instead");
        watcher.close();
        if (this.watched.get(w.id) === w && !w.poll) w.poll = setInterval(() => this.schedule(w), POLL_MS).unref();
      });
      return watcher;
    } catch (err) {
      this.deps.log.warn({ err, container: w.id, path: w.path }, "log rotation: cannot watch the log's directory; polling instead");
      return undefined;
    }
  }

  /** One check at a time per log; events during a check make it run once more. */
  private schedule(w: Watched): void {
    if (w.checking) {
      w.again = true;
      return;
    }
    w.checking = true;
    void this.check(w).finally(() => {
      w.checking = false;
    });
  }

  private async check(w: Watched): Promise<void> {
    do {
      w.again = false;
      if (this.watched.get(w.id) !== w) return;
      try {
        const size = (await stat(w.path)).size;
        // No reopen is pending here: the file at PATH is the one conmon writes.
        if (size < w.maxBytes || !rotateLogFile(w.path, w.keep)) continue;
        await this.deps.runtime.reopenLog(w.id, w.bundlePath);
      } catch (err) {
        // Absent: renamed away with conmon's reopen still under way, or the
        // container is gone. A reopen refused by a monitor that has exited
        // leaves everything in PATH.1; its exit will untrack the log.
        if (isNotFound(err) || (err as NodeJS.ErrnoException).code === "ENXIO") continue;
        this.deps.log.warn({ err, container: w.id, path: w.path }, "log rotation failed");
      }
    } while (w.again);
  }
}
