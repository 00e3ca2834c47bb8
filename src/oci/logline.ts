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

let lastTimeText = "";
let lastTimeMs = 0;

/**
 * One record, with or without its newline; undefined when it is not a
 * well-formed record. `data` shares memory with `line`.
 */
export function parseLogLine(line: Buffer): LogEntry | undefined {
  let end = line.length;
  if (end > 0 && line[end - 1] === NL) end--;
  const sp1 = line.indexOf(SP);
  if (sp1 <= 0 || sp1 >= end) return undefined;
  const timeText = line.toString("latin1", 0, sp1);
  // conmon stamps every record of one read with the same time: parse it once.
  if (timeText !== lastTimeText) {
    const parsed = parseLogTime(timeText);
    if (!parsed) return undefined;
    lastTimeText = timeText;
    lastTimeMs = parsed.getTime();
  }
  const time = new Date(lastTimeMs);
  const sp2 = line.indexOf(SP, sp1 + 1);
  if (sp2 < 0 || sp2 + 1 >= end) return undefined;
  const streamText = line.toString("latin1", sp1 + 1, sp2);
  if (streamText !== "stdout" && streamText !== "stderr") return undefined;
  const tag = line[sp2 + 1];
  if (tag !== TAG_FULL && tag !== TAG_PARTIAL) return undefined;
  // The tag is one letter, then a space before the message (absent when the message is empty).
  const afterTag = sp2 + 2;
  if (afterTag < end && line[afterTag] !== SP) return undefined;
  const data = line.subarray(Math.min(afterTag + 1, end), end);
  if (data.indexOf(NL) >= 0) return undefined;
  return { time, timeText, stream: streamText, full: tag === TAG_FULL, data };
}
