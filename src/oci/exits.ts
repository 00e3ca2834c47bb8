// Container exits as conmon reports them: with --exit-dir DIR it writes
// DIR/<container id> holding the decimal exit status ("137" for SIGKILL,
// 128+N for death by signal N; "-1" when it could not tell). conmon 2.1.6
// writes it with g_file_set_contents: a temp file "<id>.XXXXXX" (six random
// letters or digits) renamed over the final name, so the final name only
// ever holds complete content. An OOM kill leaves an empty file "oom" in
// --persist-dir (and one in conmon's working directory).
import { EventEmitter } from "node:events";
import { watch, type FSWatcher } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";

// glib's temp suffix. Hull ids are 64 hex chars, so no real id matches; an id
// that did (runc allows dots) would still be readable with readExitFile.
const TEMP_NAME = /\.[A-Za-z0-9]{6}$/;

function isCandidate(name: string): boolean {
  return name !== "" && !name.startsWith(".") && !TEMP_NAME.test(name);
}

function parseStatus(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?[0-9]{1,10}$/.test(t)) return undefined;
  return Number(t);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** The exit status conmon recorded for id, or undefined when there is none (yet). */
export async function readExitFile(exitDir: string, id: string): Promise<number | undefined> {
  try {
    return parseStatus(await readFile(join(exitDir, id), "utf8"));
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export async function removeExitFile(exitDir: string, id: string): Promise<void> {
  await rm(join(exitDir, id), { force: true });
}

/** persistDir is the parent of the per-container dirs handed to conmon as --persist-dir. */
export async function wasOomKilled(persistDir: string, id: string): Promise<boolean> {
  return stat(join(persistDir, id, "oom")).then(
    () => true,
    () => false,
  );
}

// The typed events of the class below (Node's EventEmitter pattern).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- declares typed overloads only; the class implements them
export interface ExitWatcher {
  on(event: "exit", listener: (id: string, exitCode: number) => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  once(event: "exit", listener: (id: string, exitCode: number) => void): this;
  once(event: "error", listener: (err: Error) => void): this;
  off(event: "exit", listener: (id: string, exitCode: number) => void): this;
  off(event: "error", listener: (err: Error) => void): this;
  emit(event: "exit", id: string, exitCode: number): boolean;
  emit(event: "error", err: Error): boolean;
}

/**
 * Emits "exit" (id, exitCode) once per exit file that appears in exitDir.
 * inotify through fs.watch; no polling. An exit file is reported again only
 * when it is replaced by a new one (a new inode or mtime), as after a restart.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class ExitWatcher extends EventEmitter {
  readonly exitDir: string;
  private watcher: FSWatcher | undefined;
  // name -> identity of the file last reported, so a repeated event (or the
  // startup scan racing the watcher) does not report one exit twice.
  private readonly reported = new Map<string, string>();
  // Serialises the handling of one name: events come in bursts.
  private readonly inflight = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(exitDir: string) {
    super();
    this.exitDir = exitDir;
  }

  /**
   * Installs the watcher, then (with emitExisting) reports the files already
   * there. Watching first closes the gap in which an exit could land unseen.
   */
  async start(opts: { emitExisting?: boolean } = {}): Promise<void> {
    if (this.watcher) return;
    this.stopping = false;
    await mkdir(this.exitDir, { recursive: true, mode: 0o700 });
    // stop() came while the directory was made: a watcher made now would never be closed.
    if (this.stopping) return;
    // Persistent: an awaited exit must keep the process alive; stop() releases it.
    const w = watch(this.exitDir, (_event, filename) => {
      if (filename === null) {
        // No name (the kernel queue overflowed): look at everything.
        void this.scan();
      } else {
        // handle() reports its own failures as "error" events.
        void this.handle(String(filename));
      }
    });
    w.on("error", (err) => this.fail(err));
    this.watcher = w;
    if (opts.emitExisting) await this.scan();
  }

  stop(): void {
    this.stopping = true;
    this.watcher?.close();
    this.watcher = undefined;
    this.reported.clear();
  }

  private fail(err: unknown): void {
    // An "error" with no listener would throw and take the daemon down.
    if (this.listenerCount("error") > 0) this.emit("error", err instanceof Error ? err : new Error(String(err)));
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.exitDir);
    } catch (err) {
      this.fail(err);
      return;
    }
    await Promise.all(names.map((n) => this.handle(n)));
  }

  private handle(name: string): Promise<void> {
    if (!isCandidate(name)) return Promise.resolve();
    const prev = this.inflight.get(name) ?? Promise.resolve();
    const next = prev.then(() => this.check(name)).catch((err: unknown) => this.fail(err));
    this.inflight.set(name, next);
    void next.finally(() => {
      if (this.inflight.get(name) === next) this.inflight.delete(name);
    });
    return next;
  }

  private async check(name: string): Promise<void> {
    const path = join(this.exitDir, name);
    let identity: string;
    let code: number | undefined;
    try {
      const st = await stat(path, { bigint: true });
      if (!st.isFile()) return;
      identity = `${st.ino}:${st.mtimeNs}`;
      code = parseStatus(await readFile(path, "utf8"));
    } catch (err) {
      // Removed (the caller consumed it, or it was a temp name): forget it so
      // the next exit of that id is reported.
      if (isMissing(err)) {
        this.reported.delete(name);
        return;
      }
      throw err;
    }
    if (code === undefined || !this.watcher) return;
    if (this.reported.get(name) === identity) return;
    this.reported.set(name, identity);
    this.emit("exit", name, code);
  }
}
