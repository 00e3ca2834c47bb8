// One record of conmon's k8s-file log: `TIMESTAMP STREAM TAG MESSAGE`
// (see logfile.ts for the format and how the file is followed). Pure.

export interface LogEntry {
  time: Date;
  /** The timestamp as conmon wrote it (RFC3339Nano, local offset): Date holds milliseconds only. */
  timeText: string;
  stream: "stdout" | "stderr";
  /** F (true): this ends a line of output. P (false): a partial line, no newline after it in the output. */
  full: boolean;
  /** The message, without the newline conmon ends each record with. */
  data: Buffer;
}

const NL = 0x0a;
const SP = 0x20;
const TAG_FULL = 0x46; // F
const TAG_PARTIAL = 0x50; // P

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** An RFC3339 timestamp with up to nanoseconds, as conmon writes them; finer than ms is dropped. */
export function parseLogTime(text: string): Date | undefined {
  const m = TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[8] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, "0").slice(0, 3));
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const t = new Date(0);
  t.setUTCFullYear(year, month - 1, day);
  t.setUTCHours(hour, minute, second, ms);
  return new Date(t.getTime() - offsetMin * 60_000);
}

/** Stream codes as the scanner reports them: OutputStream's values on the wire (1 stdout, 2 stderr). */
export const STDOUT = 1;
export const STDERR = 2;
export type StreamCode = typeof STDOUT | typeof STDERR;

/**
 * Receives each well-formed record of a chunk: its message is
 * data[msgStart, msgEnd); for a full (F) record data[msgEnd] is the record's
 * newline, which is also the output's, so data[msgStart, msgEnd + 1) is the
 * output line as the container wrote it. recStart is the record's first byte.
 */
export type RecordVisitor = (stream: StreamCode, full: boolean, data: Buffer, msgStart: number, msgEnd: number, recStart: number) => void;

/**
 * Walks k8s-file records in place: no object, Buffer or Date per record.
 * conmon stamps every record of one read from the container (up to 8 KiB of
 * output) with the same timestamp, so the timestamp is parsed only when its
 * bytes differ from the last one's; the scanner keeps that one (its `time`
 * and `timeText` are the current record's while a visitor runs).
 */
export class LogScanner {
  private last: Buffer = Buffer.alloc(64);
  private lastLen = 0;
  private lastText = "";
  private lastDate: Date = new Date(0);

  /** The current record's time; one Date shared by the records that carry the same timestamp (never mutate it). */
  get time(): Date {
    return this.lastDate;
  }

  /** The current record's timestamp as conmon wrote it. */
  get timeText(): string {
    return this.lastText;
  }

  /**
   * Visits each complete record in data[start, end) and returns where the
   * first unfinished one begins (end when the range ends on a newline).
   * Malformed lines are skipped, as parseLogLine refuses them.
   */
  scan(data: Buffer, start: number, end: number, visit: RecordVisitor): number {
    let s = start;
    while (s < end) {
      const nl = data.indexOf(NL, s);
      if (nl < 0 || nl >= end) return s;
      this.record(data, s, nl, visit);
      s = nl + 1;
    }
    return s;
  }

  /** One line data[s, nl) (nl: its newline or the end of the data); visits it if it is a record. */
  record(data: Buffer, s: number, nl: number, visit: RecordVisitor): boolean {
    const sp1 = this.timestamp(data, s, nl);
    if (sp1 < 0) return false;
    // "stdout " or "stderr ", then the one-letter tag.
    if (sp1 + 8 >= nl || data[sp1 + 1] !== 0x73 || data[sp1 + 2] !== 0x74 || data[sp1 + 3] !== 0x64 || data[sp1 + 7] !== SP) return false;
    let stream: StreamCode;
    const a = data[sp1 + 4];
    const b = data[sp1 + 5];
    const c = data[sp1 + 6];
    if (a === 0x6f && b === 0x75 && c === 0x74) stream = STDOUT;
    else if (a === 0x65 && b === 0x72 && c === 0x72) stream = STDERR;
    else return false;
    const tagAt = sp1 + 8;
    const tag = data[tagAt];
    if (tag !== TAG_FULL && tag !== TAG_PARTIAL) return false;
    // The tag is one letter, then a space before the message (absent when the message is empty).
    const afterTag = tagAt + 1;
    if (afterTag < nl && data[afterTag] !== SP) return false;
    visit(stream, tag === TAG_FULL, data, Math.min(afterTag + 1, nl), nl, s);
    return true;
  }

  /** The index of the space after the record's timestamp, or -1 when it is not a valid one. */
  private timestamp(data: Buffer, s: number, nl: number): number {
    const len = this.lastLen;
    if (len > 0 && s + len < nl && data[s + len] === SP) {
      // Compare from the end: timestamps of successive reads differ in their last digits.
      let i = len - 1;
      const last = this.last;
      while (i >= 0 && data[s + i] === last[i]) i--;
      if (i < 0) return s + len;
    }
    const sp1 = data.indexOf(SP, s);
    if (sp1 <= s || sp1 >= nl) return -1;
    const n = sp1 - s;
    const text = data.toString("latin1", s, sp1);
    const parsed = parseLogTime(text);
    if (!parsed) return -1;
    if (n > this.last.length) this.last = Buffer.alloc(n);
    data.copy(this.last, 0, s, sp1);
    this.lastLen = n;
    this.lastText = text;
    this.lastDate = parsed;
    return sp1;
  }
}

/** A visitor of records, and the scanner walking them (its time and timeText are the current record's). */
export interface RawRecords {
  scanner: LogScanner;
  visit: RecordVisitor;
}

const lineScanner = new LogScanner();

/**
 * One record, with or without its newline; undefined when it is not a
 * well-formed record. `data` shares memory with `line`. For many records,
 * LogScanner.scan walks them without an object per record.
 */
export function parseLogLine(line: Buffer): LogEntry | undefined {
  let end = line.length;
  if (end > 0 && line[end - 1] === NL) end--;
  let found: LogEntry | undefined;
  lineScanner.record(line, 0, end, (stream, full, data, msgStart, msgEnd) => {
    found = {
      time: lineScanner.time,
      timeText: lineScanner.timeText,
      stream: stream === STDOUT ? "stdout" : "stderr",
      full,
      data: data.subarray(msgStart, msgEnd),
    };
  });
  if (found && found.data.indexOf(NL) >= 0) return undefined;
  return found;
}
