// A reader's view of a container log across rotations (see logfile.ts for
// the format, log-rotate.ts for how hulld rotates): the generations of the
// file it holds open, oldest first. The first is the one being read; the
// rest were taken ahead of need, each an fd opened while PATH still named
// it, so a generation stays readable to its end after it was renamed to
// PATH.1 and even after it was deleted.
//
// When a newer generation is held, the older ones are complete: conmon
// closes the file it writes before it creates the next one at PATH (its
// reopen_k8s_file), so nothing reaches an older generation once a newer one
// exists. Opens here are synchronous so that taking a generation and hulld's
// own (synchronous) rotation never interleave.
import { closeSync, fstatSync, openSync, read } from "node:fs";
import { promisify } from "node:util";
import { HullError } from "../errors.js";
import { isNotFound } from "./logwake.js";
import { LogScanner, STDOUT, type LogEntry, type RawRecords } from "./logline.js";
import { onBeforeRotate, rotatedLogPath } from "./log-rotate.js";

const readAt = promisify(read);

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);
const CHUNK = 64 * 1024;
/** Bulk readers' reads (an attach or ContainerLogs catching up): fewer, larger reads, as a frame (FRAME_BYTES) each. */
const RAW_CHUNK = 256 * 1024;
// conmon reads at most 8192 bytes at a time, so its records are shorter than
// 8.3 KiB; anything this long without a newline is not a record.
export const MAX_RECORD = 1024 * 1024;
/**
 * Generations a follower may hold ahead of the one it reads. Each pins a
 * deleted file's disk space until read, so a stalled reader is bounded; one
 * this far behind ends with LOG_ROTATED instead of skipping output silently.
 */
const MAX_HELD = 64;

export interface Located {
  entry: LogEntry;
  /** File offset of the record's first byte. */
  offset: number;
}

/** One open generation of a log file and how far into it the reader is. */
export class LogCursor {
  /** Next byte to read. */
  offset = 0;
  /** The unfinished record read so far; it starts at offset - rest.length. */
  private rest: Buffer = EMPTY;
  private skipping = false;
  private closed = false;
  private scanner = new LogScanner();
  /** Set by the chain for bulk readers (LogQuery.records): records go to its visitor, no Located made. */
  private raw: RawRecords | undefined;
  private buffer: Buffer | undefined;

  private constructor(
    private readonly fd: number,
    readonly ino: number,
    readonly dev: number,
  ) {}

  /** The file `path` names now; undefined when there is none. */
  static open(path: string): LogCursor | undefined {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      return new LogCursor(fd, st.ino, st.dev);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  same(other: { ino: number; dev: number }): boolean {
    return this.ino === other.ino && this.dev === other.dev;
  }

  /** Records go to raw.visit (walked by raw.scanner) instead of into the batches. */
  useRecords(raw: RawRecords | undefined): void {
    this.raw = raw;
    if (raw) this.scanner = raw.scanner;
  }

  /**
   * Raw mode's read buffer, reused: its records are visited in place and
   * copied out by the visitor (RawRecords), so nothing holds the bytes past
   * the walk, and a bulk read costs no allocation (nor fresh pages) per chunk.
   */
  private reusable(size: number): Buffer {
    if (!this.buffer || this.buffer.length < size) this.buffer = Buffer.allocUnsafe(Math.max(size, RAW_CHUNK * 2));
    return this.buffer;
  }

  /** Starts reading again at a record's first byte. */
  seek(offset: number): void {
    this.offset = offset;
    this.rest = EMPTY;
    this.skipping = false;
  }

  /** Records from the offset to the end of the file (or to `limit`), a batch per chunk read. */
  async *read(limit = Number.POSITIVE_INFINITY): AsyncGenerator<Located[]> {
    while (this.offset < limit && !this.closed) {
      const want = Math.min(this.raw ? RAW_CHUNK : CHUNK, limit - this.offset);
      // The unfinished record goes first and the read lands right after it: no concat.
      const keep = this.rest.length;
      const buf = this.raw ? this.reusable(keep + want) : Buffer.allocUnsafe(keep + want);
      if (keep > 0) this.rest.copy(buf, 0);
      this.rest = EMPTY;
      const { bytesRead } = await readAt(this.fd, buf, keep, want, this.offset);
      const base = this.offset - keep;
      const data = buf.subarray(0, keep + bytesRead);
      if (bytesRead === 0) {
        this.rest = data;
        return;
      }
      this.offset += bytesRead;
      let start = 0;
      const found: Located[] = [];
      if (this.skipping) {
        const nl = data.indexOf(NL);
        if (nl >= 0) this.skipping = false;
        start = nl >= 0 ? nl + 1 : data.length;
      }
      // One walk over the chunk (LogScanner): a malformed record (not something conmon writes) is skipped, not fatal to the whole log.
      const scanner = this.scanner;
      start = this.raw
        ? scanner.scan(data, start, data.length, this.raw.visit)
        : scanner.scan(data, start, data.length, (stream, full, d, msgStart, msgEnd, recStart) => {
            const entry: LogEntry = {
              time: scanner.time,
              timeText: scanner.timeText,
              stream: stream === STDOUT ? "stdout" : "stderr",
              full,
              data: d.subarray(msgStart, msgEnd),
            };
            found.push({ entry, offset: base + recStart });
          });
      // Settle the cursor before yielding, so a consumer that stops early leaves it consistent.
      this.rest = start < data.length ? data.subarray(start) : EMPTY;
      if (this.rest.length > MAX_RECORD) {
        this.rest = EMPTY;
        this.skipping = true;
      }
      // Raw mode yields every chunk (empty) so its reader can pace itself.
      if (found.length > 0 || this.raw) yield found;
    }
  }

  /** Truncation in place is not conmon's way; should someone do it, start over at 0. */
  checkTruncated(): void {
    if (fstatSync(this.fd).size < this.offset) this.seek(0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

export class LogChain {
  private readonly held: LogCursor[] = [];
  private unsubscribe: (() => void) | undefined;
  private overflowed = false;

  constructor(
    private readonly path: string,
    private readonly raw?: RawRecords,
  ) {}

  /**
   * Opens, in one step, the rotated generations still on disk (oldest
   * first, when `rotated`) and the live file. With `follow`, every later
   * generation is taken as hulld rotates it.
   */
  open(opts: { rotated: boolean; follow: boolean }): void {
    if (opts.follow) this.unsubscribe = onBeforeRotate(this.path, () => this.takeLive());
    if (opts.rotated) {
      const older: LogCursor[] = [];
      for (let i = 1; ; i++) {
        const c = LogCursor.open(rotatedLogPath(this.path, i));
        if (!c) break;
        older.push(c);
      }
      for (const c of older.reverse()) this.hold(c);
    }
    this.takeLive();
  }

  /** The generation being read (undefined: none yet). */
  get current(): LogCursor | undefined {
    return this.held[0];
  }

  /** Drops the generations before the one with this inode; false when none has it (rotated out of reach). */
  startAt(ino: number): boolean {
    const i = this.held.findIndex((c) => c.ino === ino);
    if (i < 0) return false;
    for (const c of this.held.splice(0, i)) c.close();
    return true;
  }

  /** Takes the file PATH names now, unless it is held already; true when it was new. */
  takeLive(): boolean {
    // Past an overflow the reader must stop at the gap, not jump over it.
    if (this.overflowed) return false;
    const c = LogCursor.open(this.path);
    if (!c) return false;
    if (this.held.length > MAX_HELD && !this.held.some((h) => h.same(c))) {
      c.close();
      this.overflowed = true;
      return false;
    }
    return this.hold(c);
  }

  /** Holds c unless its file is held already (then closes it); true when it was new. */
  private hold(c: LogCursor): boolean {
    if (this.held.some((h) => h.same(c))) {
      c.close();
      return false;
    }
    c.useRecords(this.raw);
    this.held.push(c);
    return true;
  }

  /**
   * Whether the current generation is complete: a newer one is held, or PATH
   * names a newer one now (taken). Throws once the reader fell so far behind
   * that a generation it never held is gone.
   */
  currentComplete(): boolean {
    if (this.held.length > 1) return true;
    if (this.overflowed) {
      throw new HullError(
        "RESOURCE_EXHAUSTED",
        `the log ${this.path} was rotated more than ${MAX_HELD} times ahead of this reader: output in between is gone`,
        {
          reason: "LOG_ROTATED",
        },
      );
    }
    return this.takeLive() && this.held.length > 1;
  }

  /** Closes the current generation and moves to the next. */
  advance(): void {
    this.held.shift()?.close();
  }

  /** The generations held now, oldest first. */
  files(): readonly LogCursor[] {
    return this.held;
  }

  close(): void {
    this.unsubscribe?.();
    for (const c of this.held.splice(0)) c.close();
  }
}
