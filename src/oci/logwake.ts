// How the log follower (logfile.ts) waits: for inotify events on the log
// file and its directory, for the container's end, or for a slow poll tick
// that only covers a missed event.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

/** The follower's safety net for a missed inotify event, not its clock. */
export const POLL_MS = 1000;

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/**
 * Wakes the follower on inotify events of the file and of its directory (a
 * rotation renames a new file into the directory; the file's own watch stays
 * with the old inode), or after POLL_MS in case an event was missed.
 */
export class Waker {
  private woken = false;
  private waiting: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private readonly dirWatcher: FSWatcher | undefined;
  private fileWatcher: FSWatcher | undefined;
  private readonly onAbort = (): void => this.wake();

  constructor(
    private readonly path: string,
    private readonly signal: AbortSignal,
  ) {
    const name = basename(path);
    this.dirWatcher = this.watch(dirname(path), (file) => {
      if (file === null || file === name || file === `${name}.tmp`) this.wake();
    });
    signal.addEventListener("abort", this.onAbort);
  }

  private watch(target: string, onEvent: (file: string | null) => void): FSWatcher | undefined {
    try {
      const w = watch(target, { persistent: true }, (_event, file) => onEvent(file));
      // A failed watch leaves the poll to notice changes: slower, nothing lost.
      w.on("error", () => w.close());
      return w;
    } catch (err) {
      // No such file yet, or no inotify watches left: the poll tick covers it.
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      if (code === "ENOENT" || code === "ENOSPC" || code === "EMFILE" || code === "ENFILE") return undefined;
      throw err;
    }
  }

  /** Watches the file PATH names now (after each open: a watch follows the inode). */
  watchFile(): void {
    this.fileWatcher?.close();
    this.fileWatcher = this.watch(this.path, () => this.wake());
  }

  wake(): void {
    this.woken = true;
    this.release?.();
  }

  /** Forgets earlier events: call right before reading the file, so nothing that comes during the read is missed. */
  clear(): void {
    this.woken = false;
  }

  /** Resolves on the next event (or one since clear()), the poll tick, or abort. */
  next(): Promise<void> {
    if (this.woken || this.signal.aborted) return Promise.resolve();
    this.waiting ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.release?.(), POLL_MS);
      this.release = () => {
        clearTimeout(timer);
        this.release = undefined;
        this.waiting = undefined;
        resolve();
      };
    });
    return this.waiting;
  }

  close(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    this.dirWatcher?.close();
    this.fileWatcher?.close();
    this.release?.();
  }
}

export type Answer = { settled: false } | { settled: true; done: boolean } | { settled: true; error: unknown };

/**
 * One open question to untilDone() at a time. Only "done" (or a failure)
 * wakes the follower: a "not yet" waits for the next file event or poll
 * tick before the question is asked again, so an untilDone that answers at
 * once never makes the follower spin.
 */
export class DoneProbe {
  private asking = false;
  private answer: Answer = { settled: false };

  constructor(
    private readonly untilDone: () => Promise<boolean>,
    private readonly wake: () => void,
  ) {}

  ask(): void {
    if (this.asking || this.answer.settled) return;
    this.asking = true;
    let question: Promise<boolean>;
    try {
      question = this.untilDone();
    } catch (err) {
      question = Promise.reject(err);
    }
    question.then(
      (done) => {
        this.asking = false;
        this.answer = { settled: true, done };
        if (done) this.wake();
      },
      (error: unknown) => {
        this.asking = false;
        this.answer = { settled: true, error };
        this.wake();
      },
    );
  }

  take(): Answer {
    const a = this.answer;
    this.answer = { settled: false };
    return a;
  }
}
