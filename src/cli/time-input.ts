// Time values on the command line, with podman's ParseInputTime semantics so
// `--since`/`--until` mean what podman users expect: a date (RFC3339 and the
// shorter layouts podman lists), a unix timestamp, or a Go duration relative
// to now (subtracted for --since, added for --until). Pure; throws UsageError.
import { UsageError } from "./parse.js";

// The layouts podman tries: RFC3339(Nano), 2006-01-02T15:04:05(.999999999),
// 2006-01-02Z07:00 and 2006-01-02. Without a zone, Go reads UTC.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/;
// strconv.ParseFloat's decimal forms (no hex, no inf/NaN: not useful as times).
const UNIX_SECONDS = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3,
  "\u03bcs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const DURATION_PART = /^(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;

/** Go's time.ParseDuration, in milliseconds; undefined when s is not a duration. */
export function parseGoDuration(s: string): number | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    const m = DURATION_PART.exec(rest);
    if (!m) return undefined;
    const [whole, int = "", frac, unit = ""] = m;
    // "." alone, or a unit with no number, is not a number to Go either.
    if (int === "" && (frac === undefined || frac === "")) return undefined;
    total += Number(`${int || "0"}.${frac || "0"}`) * (UNIT_MS[unit] ?? Number.NaN);
    rest = rest.slice(whole.length);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function parseDateTime(s: string): Date | undefined {
  const m = DATE_TIME.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = "", zone = "Z"] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  if (zone !== "Z") {
    const [oh, om] = zone.slice(1).split(":").map(Number) as [number, number];
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone.startsWith("-") ? -1 : 1) * (oh * 60 + om);
  }
  // Milliseconds are all a Date holds; finer digits are dropped, not rounded up.
  const ms = frac === "" ? 0 : Math.floor(Number(`0${frac}`) * 1000);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const t = new Date(0);
  t.setUTCFullYear(year, month - 1, day);
  t.setUTCHours(hour, minute, second, ms);
  return new Date(t.getTime() - offsetMin * 60_000);
}

/**
 * podman's ParseInputTime: `since` says which way a duration points (back
 * from now for --since, forward for --until).
 */
export function parseInputTime(flag: string, value: string, since: boolean, now = Date.now()): Date {
  const s = value.trim();
  const date = parseDateTime(s);
  if (date) return date;
  if (UNIX_SECONDS.test(s)) {
    const t = new Date(Math.floor(Number(s) * 1000));
    if (!Number.isNaN(t.getTime())) return t;
  }
  const ms = parseGoDuration(s);
  if (ms === undefined) {
    throw new UsageError(`${flag}: "${value}" is not a time (RFC3339 like 2024-05-01T12:00:00Z, a unix timestamp, or a duration like 10m or 1h30m)`);
  }
  const t = new Date(since ? now - ms : now + ms);
  if (Number.isNaN(t.getTime())) throw new UsageError(`${flag}: "${value}" is out of range`);
  return t;
}
