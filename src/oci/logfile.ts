// The container log conmon writes with `-l k8s-file:PATH` (containers/conmon
// 2.1.6, src/ctr_logging.c): parsing, and a reader that can follow the file.
//
// Format, one record a line: `TIMESTAMP STREAM TAG MESSAGE\n`. TIMESTAMP is
// RFC3339 with nanoseconds and the local zone offset (`...T12:38:40.903049073+00:00`),
// STREAM `stdout`/`stderr`, TAG `F` (MESSAGE ends a line of output; conmon
// keeps the output's newline as the record's end) or `P` (a partial line: the
// output had no newline there, conmon adds one to end the record). Every
// record conmon writes is complete, so a last line without its newline is a
// write still in flight, not a record.
//
// Rotation (`--log-size-max N`): before a record would take the file past N
// bytes, conmon fsyncs and closes it, creates `PATH.tmp` (O_TRUNC) and renames
// it over PATH. The old file is gone from the directory but still readable
// through an fd opened before, and it is complete once the rename is seen. So
// the follower keeps its fd across the rename, reads the old file to its end,
// then reads the new one from offset 0: nothing still on disk is lost, and
// nothing is read twice. Only a file replaced again before the follower got
// to it (two rotations between two reads) is lost, because it is off disk.
//
// End of a follow: conmon drains the container's pipes into the log and
// fsyncs it before it writes the exit file, and the container only counts as
// exited once hulld has read that exit file. So once untilDone() says the
// container is done, one more read to the end of the file gets every line.
import { open, stat, type FileHandle } from "node:fs/promises";
import { HullError } from "../errors.js";
import { DoneProbe, Waker, isNotFound } from "./logwake.js";
import { parseLogLine, type LogEntry } from "./logline.js";

export { parseLogLine, parseLogTime, type LogEntry } from "./logline.js";

export { POLL_MS } from "./logwake.js";

export interface LogReadOptions {
  follow: boolean;
  signal: AbortSignal;
  /**
   * Asked while following, whenever the file has been read to its end: true
   * once the container has exited (the follow then reads the file to its end
   * once more and ends). It may answer at once (it is asked again after the
   * next change to the file or POLL_MS) or wait until the container is done
   * (the follow then ends as soon as it answers). Without it a follow ends
   * only through the signal.
   */
  untilDone?: () => Promise<boolean>;
}

export interface LogQuery extends LogReadOptions {
  /** Entries it rejects are neither returned nor counted by tail. */
  select?: (entry: LogEntry) => boolean;
  /** Only the last N lines already in the file (a P run and its F count as one line), then what follows. */
  tail?: number;
  /**
   * Start at this position (from logPosition) instead of the file's start.
   * If PATH names another file by then (conmon rotated it), the read fails
   * with LOG_ROTATED: what came before the rotation is no longer on disk.
   */
  from?: LogPosition;
}

/** A record boundary in one particular log file. */
export interface LogPosition {
  ino: number;
  offset: number;
}

/** Where the next record of the log at `path` will start (0 in a missing file). */
export async function logPosition(path: string): Promise<LogPosition> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if (isNotFound(err)) return { ino: -1, offset: 0 };
    throw err;
  }
  try {
    const st = await fh.stat();
    // A record being written right now is not finished: start at its first byte.
    const look = Math.min(st.size, MAX_RECORD);
    const tail = Buffer.alloc(look);
    await fh.read(tail, 0, look, st.size - look);
    const lastNl = tail.lastIndexOf(NL);
    return { ino: st.ino, offset: lastNl < 0 ? st.size - look : st.size - look + lastNl + 1 };
  } finally {
    await fh.close();
  }
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);
const CHUNK = 64 * 1024;
// conmon reads at most 8192 bytes at a time, so its records are shorter than
// 8.3 KiB; anything this long without a newline is not a record.
const MAX_RECORD = 1024 * 1024;

interface Located {
  entry: LogEntry;
  /** File offset of the record's first byte. */
  offset: number;
}

/** An open log file and how far into it the reader is. */
class LogCursor {
  private fh: FileHandle | undefined;
  private ino = -1;
  private dev = -1;
  /** Next byte to read. */
  offset = 0;
  /** The unfinished record read so far; it starts at offset - rest.length. */
  private rest: Buffer = EMPTY;
  private skipping = false;

  constructor(private readonly path: string) {}

  get isOpen(): boolean {
    return this.fh !== undefined;
  }

  get inode(): number {
    return this.ino;
  }

  /** Opens the file PATH names now; false when there is none. */
  async open(): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, "r");
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    const st = await fh.stat();
    this.fh = fh;
    this.ino = st.ino;
    this.dev = st.dev;
    this.seek(0);
    return true;
  }

  /** Starts reading again at a record's first byte. */
  seek(offset: number): void {
    this.offset = offset;
    this.rest = EMPTY;
    this.skipping = false;
  }

  /** Records from the offset to the end of the file (or to `limit`), a batch per chunk read. */
  async *read(limit = Number.POSITIVE_INFINITY): AsyncGenerator<Located[]> {
    const fh = this.fh;
    if (!fh) return;
    while (this.offset < limit) {
      const want = Math.min(CHUNK, limit - this.offset);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(chunk, 0, want, this.offset);
      if (bytesRead === 0) return;
      const base = this.offset - this.rest.length;
      const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      this.offset += bytesRead;
      let start = 0;
      const found: Located[] = [];
      for (let nl = data.indexOf(NL); nl >= 0; nl = data.indexOf(NL, start)) {
        if (this.skipping) this.skipping = false;
        else {
          const entry = parseLogLine(data.subarray(start, nl));
          // A malformed record (not something conmon writes) is skipped, not fatal to the whole log.
          if (entry) found.push({ entry, offset: base + start });
        }
        start = nl + 1;
      }
      // Settle the cursor before yielding, so a consumer that stops early leaves it consistent.
      this.rest = start < data.length ? data.subarray(start) : EMPTY;
      if (this.rest.length > MAX_RECORD) {
        this.rest = EMPTY;
        this.skipping = true;
      }
      if (found.length > 0) yield found;
    }
  }

  /** Whether PATH now names another file than the open one (conmon renamed a new one over it). */
  async replaced(): Promise<boolean> {
    try {
      const st = await stat(this.path);
      return st.ino !== this.ino || st.dev !== this.dev;
    } catch (err) {
      // The container and its directory were removed: the open file is all there is.
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Truncation in place is not conmon's way; should someone do it, start over at 0. */
  async checkTruncated(): Promise<void> {
    if (this.fh && (await this.fh.stat()).size < this.offset) this.seek(0);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

type Select = (entry: LogEntry) => boolean;

function picked(batch: Located[], select: Select): LogEntry[] {
  const out: LogEntry[] = [];
  for (const { entry } of batch) if (select(entry)) out.push(entry);
  return out;
}

/** Everything readable now, across rotations; leaves the cursor at the end of the current file. */
async function* drain(cur: LogCursor, waker: Waker, select: Select): AsyncGenerator<LogEntry[]> {
  for (;;) {
    if (!cur.isOpen) {
      if (!(await cur.open())) return;
      waker.watchFile();
    }
    for await (const batch of cur.read()) yield picked(batch, select);
    if (!(await cur.replaced())) {
      await cur.checkTruncated();
      return;
    }
    // conmon closed the old file before the rename; what reached it until then
    // may have come after the read above, so read it to its end once more.
    for await (const batch of cur.read()) yield picked(batch, select);
    await cur.close();
  }
}

/** Ring of the last N lines' first records: where each starts and which lines were open (mid-P-run) there. */
class TailRing {
  private readonly offsets: number[] = [];
  private readonly openOut: number[] = [];
  private readonly openErr: number[] = [];

  constructor(private readonly size: number) {}

  set(line: number, offset: number, out: number, err: number): void {
    const i = line % this.size;
    this.offsets[i] = offset;
    this.openOut[i] = out;
    this.openErr[i] = err;
  }

  get(line: number): { offset: number; open: Record<LogEntry["stream"], number> } {
    const i = line % this.size;
    return { offset: this.offsets[i] ?? 0, open: { stdout: this.openOut[i] ?? -1, stderr: this.openErr[i] ?? -1 } };
  }
}

/**
 * The last `n` selected lines of the open file, in two passes over the same
 * fd (so a rotation in between changes nothing): count the lines and keep
 * where the last n begin, then read from there to where the count stopped.
 * Memory stays O(n) numbers whatever the lines' size.
 */
async function* tailOf(cur: LogCursor, n: number, select: Select): AsyncGenerator<LogEntry[]> {
  const ring = n > 0 ? new TailRing(n) : undefined;
  // Per stream, the line a P run left open (-1: none); a line's number is its first record's.
  const open: Record<LogEntry["stream"], number> = { stdout: -1, stderr: -1 };
  let count = 0;
  for await (const batch of cur.read()) {
    for (const { entry, offset } of batch) {
      if (!select(entry)) continue;
      let line = open[entry.stream];
      if (line < 0) {
        line = count++;
        ring?.set(line, offset, open.stdout, open.stderr);
      }
      open[entry.stream] = entry.full ? -1 : line;
    }
  }
  if (!ring || count === 0) return;
  const end = cur.offset;
  const first = Math.max(0, count - n);
  const from = ring.get(first);
  cur.seek(from.offset);
  const again = from.open;
  let next = first;
  for await (const batch of cur.read(end)) {
    const out: LogEntry[] = [];
    for (const { entry } of batch) {
      if (!select(entry)) continue;
      let line = again[entry.stream];
      if (line < 0) line = next++;
      again[entry.stream] = entry.full ? -1 : line;
      if (line >= first) out.push(entry);
    }
    yield out;
  }
}

/**
 * Log entries of the file at `path`, filtered, tailed, and followed as
 * asked, in batches of at most one read's worth (64 KiB of the file).
 * Batches may be empty.
 */
export async function* queryLogBatches(path: string, q: LogQuery): AsyncGenerator<LogEntry[]> {
  const select = q.select ?? (() => true);
  // Watch before the first open, so an append between the two still wakes the follow.
  const waker = q.follow ? new Waker(path, q.signal) : undefined;
  const cur = new LogCursor(path);
  try {
    const opened = await cur.open();
    if (q.from && q.from.ino >= 0) {
      if (!opened || cur.inode !== q.from.ino) {
        throw new HullError("RESOURCE_EXHAUSTED", `the log ${path} was rotated: output from before the rotation is gone`, { reason: "LOG_ROTATED" });
      }
      cur.seek(q.from.offset);
    }
    if (opened && q.tail !== undefined) yield* tailOf(cur, q.tail, select);
    if (!waker) {
      if (q.tail === undefined) for await (const batch of cur.read()) yield picked(batch, select);
      return;
    }
    if (opened) waker.watchFile();
    const probe = q.untilDone ? new DoneProbe(q.untilDone, () => waker.wake()) : undefined;
    let finishing = false;
    for (;;) {
      if (q.signal.aborted) return;
      waker.clear();
      yield* drain(cur, waker, select);
      if (finishing || q.signal.aborted) return;
      const answer = probe?.take();
      if (answer?.settled) {
        if ("error" in answer) throw answer.error;
        if (answer.done) {
          // One more read to the end: the lines written before the exit.
          finishing = true;
          continue;
        }
      }
      probe?.ask();
      await waker.next();
    }
  } finally {
    waker?.close();
    await cur.close();
  }
}

/** queryLogBatches, one entry at a time. */
export async function* queryLog(path: string, q: LogQuery): AsyncGenerator<LogEntry> {
  for await (const batch of queryLogBatches(path, q)) yield* batch;
}

/** Every entry of the log at `path`; with follow, new ones as conmon appends them (see LogReadOptions). */
export function readLogEntries(path: string, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  return queryLog(path, opts);
}
