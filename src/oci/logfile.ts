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
// Rotation: hulld renames a full file to PATH.1 and has conmon reopen PATH
// (log-rotate.ts; the kubelet's scheme). A read covers the rotated files
// still on disk, oldest first, then PATH; a follower also holds an fd of
// every later generation, taken as hulld rotates it (log-chain.ts), and
// reads each to its end before the next, so nothing is lost or read twice
// however fast the files turn over. A rotation done outside hulld (the
// kubelet's, through ReopenContainerLog) is seen when PATH names a new file.
//
// End of a follow: conmon drains the container's pipes into the log and
// fsyncs it before it writes the exit file, and the container only counts as
// exited once hulld has read that exit file. So once untilDone() says the
// container is done, one more read to the end of the file gets every line.
import { open, type FileHandle } from "node:fs/promises";
import { HullError } from "../errors.js";
import { DoneProbe, Waker, isNotFound } from "./logwake.js";
import type { LogEntry, RawRecords } from "./logline.js";
import { LogChain, MAX_RECORD, type LogCursor, type Located } from "./log-chain.js";

export { parseLogLine, parseLogTime, type LogEntry, type RawRecords } from "./logline.js";

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
   * Bulk readers (an attach fed from the log): each record goes to
   * records.visit as the chunk is walked, with no LogEntry made, and the
   * batches come out empty, one per chunk read (to pace the reader). select
   * and tail are not applied then.
   */
  records?: RawRecords;
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

type Select = (entry: LogEntry) => boolean;

function picked(batch: Located[], select: Select): LogEntry[] {
  const out: LogEntry[] = [];
  for (const { entry } of batch) if (select(entry)) out.push(entry);
  return out;
}

/** Everything readable now, across generations; leaves the chain at the end of the live file. */
async function* drain(chain: LogChain, waker: Waker, select: Select): AsyncGenerator<LogEntry[]> {
  for (;;) {
    let cur = chain.current;
    if (!cur) {
      if (!chain.takeLive()) return;
      waker.watchFile();
      cur = chain.current;
      if (!cur) return;
    }
    for await (const batch of cur.read()) yield picked(batch, select);
    if (!chain.currentComplete()) {
      cur.checkTruncated();
      return;
    }
    // Its writer closed it before the newer one existed; what reached it
    // until then may have come after the read above, so read to its end once more.
    for await (const batch of cur.read()) yield picked(batch, select);
    chain.advance();
    waker.watchFile();
  }
}

/** Ring of the last N lines' first records: which file and where each starts, and which lines were open (mid-P-run) there. */
class TailRing {
  private readonly files: number[] = [];
  private readonly offsets: number[] = [];
  private readonly openOut: number[] = [];
  private readonly openErr: number[] = [];

  constructor(private readonly size: number) {}

  set(line: number, file: number, offset: number, out: number, err: number): void {
    const i = line % this.size;
    this.files[i] = file;
    this.offsets[i] = offset;
    this.openOut[i] = out;
    this.openErr[i] = err;
  }

  get(line: number): { file: number; offset: number; open: Record<LogEntry["stream"], number> } {
    const i = line % this.size;
    return { file: this.files[i] ?? 0, offset: this.offsets[i] ?? 0, open: { stdout: this.openOut[i] ?? -1, stderr: this.openErr[i] ?? -1 } };
  }
}

/**
 * The last `n` selected lines of the files held now, oldest first, in two
 * passes over the same fds (so a rotation in between changes nothing): count
 * the lines and keep where the last n begin, then read from there to where
 * the count stopped. Memory stays O(n) numbers whatever the lines' size.
 * Every file is left where the count stopped, for a follow to go on from.
 */
async function* tailOf(files: readonly LogCursor[], n: number, select: Select): AsyncGenerator<LogEntry[]> {
  const ring = n > 0 ? new TailRing(n) : undefined;
  // Per stream, the line a P run left open (-1: none); a line's number is its first record's.
  const open: Record<LogEntry["stream"], number> = { stdout: -1, stderr: -1 };
  let count = 0;
  const ends: number[] = [];
  for (const [f, cur] of files.entries()) {
    for await (const batch of cur.read()) {
      for (const { entry, offset } of batch) {
        if (!select(entry)) continue;
        let line = open[entry.stream];
        if (line < 0) {
          line = count++;
          ring?.set(line, f, offset, open.stdout, open.stderr);
        }
        open[entry.stream] = entry.full ? -1 : line;
      }
    }
    ends.push(cur.offset);
  }
  if (!ring || count === 0) return;
  const first = Math.max(0, count - n);
  const from = ring.get(first);
  const again = from.open;
  let next = first;
  for (let f = from.file; f < files.length; f++) {
    const cur = files[f];
    if (!cur) continue;
    cur.seek(f === from.file ? from.offset : 0);
    for await (const batch of cur.read(ends[f])) {
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
}

/** Reads every generation held now to its end, in order (a read without follow). */
async function* readHeld(chain: LogChain, select: Select): AsyncGenerator<LogEntry[]> {
  for (const cur of chain.files()) for await (const batch of cur.read()) yield picked(batch, select);
}

/**
 * Log entries of the log at `path` (the rotated files still on disk, then
 * the live one), filtered, tailed, and followed as asked, in batches of at
 * most one read's worth (64 KiB of a file). Batches may be empty.
 */
export async function* queryLogBatches(path: string, q: LogQuery): AsyncGenerator<LogEntry[]> {
  const select = q.select ?? (() => true);
  // Watch before the first open, so an append between the two still wakes the follow.
  const waker = q.follow ? new Waker(path, q.signal) : undefined;
  const chain = new LogChain(path, q.records);
  try {
    chain.open({ rotated: true, follow: q.follow });
    if (q.from && q.from.ino >= 0) {
      if (!chain.startAt(q.from.ino)) {
        throw new HullError("RESOURCE_EXHAUSTED", `the log ${path} was rotated: output from before the rotation is gone`, { reason: "LOG_ROTATED" });
      }
      chain.current?.seek(q.from.offset);
    }
    if (q.tail !== undefined) yield* tailOf(chain.files(), q.tail, select);
    if (!waker) {
      if (q.tail === undefined) yield* readHeld(chain, select);
      return;
    }
    if (chain.current) waker.watchFile();
    const probe = q.untilDone ? new DoneProbe(q.untilDone, () => waker.wake()) : undefined;
    let finishing = false;
    for (;;) {
      if (q.signal.aborted) return;
      waker.clear();
      yield* drain(chain, waker, select);
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
    chain.close();
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
