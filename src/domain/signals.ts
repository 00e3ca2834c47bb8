// Signal names and numbers as Linux on x86-64 numbers them. Kept as a table
// rather than os.constants.signals because that object lacks the real-time
// range and its contents depend on the build platform.
import { invalidArgument } from "../errors.js";

const MAX_SIGNAL = 64;
// glibc reserves 32 and 33 for its threading, so user-visible SIGRTMIN is 34
// (what runc, Docker and Podman mean by "RTMIN").
const RTMIN = 34;
const RTMAX = 64;

const NAMES: ReadonlyArray<readonly [string, number]> = [
  ["HUP", 1],
  ["INT", 2],
  ["QUIT", 3],
  ["ILL", 4],
  ["TRAP", 5],
  ["ABRT", 6],
  ["BUS", 7],
  ["FPE", 8],
  ["KILL", 9],
  ["USR1", 10],
  ["SEGV", 11],
  ["USR2", 12],
  ["PIPE", 13],
  ["ALRM", 14],
  ["TERM", 15],
  ["STKFLT", 16],
  ["CHLD", 17],
  ["CONT", 18],
  ["STOP", 19],
  ["TSTP", 20],
  ["TTIN", 21],
  ["TTOU", 22],
  ["URG", 23],
  ["XCPU", 24],
  ["XFSZ", 25],
  ["VTALRM", 26],
  ["PROF", 27],
  ["WINCH", 28],
  ["IO", 29],
  ["PWR", 30],
  ["SYS", 31],
];
// Accepted on input only; signalName always answers with the primary name.
const ALIASES: ReadonlyArray<readonly [string, number]> = [
  ["IOT", 6],
  ["CLD", 17],
  ["POLL", 29],
];

const BY_NAME = new Map<string, number>([...NAMES, ...ALIASES]);
const BY_NUMBER = new Map<number, string>(NAMES.map(([name, n]) => [n, name]));

const REALTIME = /^RT(MIN|MAX)(?:([+-])([0-9]{1,2}))?$/;

function parseRealtime(name: string): number | undefined {
  const m = REALTIME.exec(name);
  if (!m) return undefined;
  const base = m[1] === "MIN" ? RTMIN : RTMAX;
  if (m[2] === undefined) return base;
  const offset = Number(m[3]);
  // RTMIN counts up and RTMAX counts down; the other direction leaves the range.
  if (m[1] === "MIN" && m[2] === "+" && base + offset <= RTMAX) return base + offset;
  if (m[1] === "MAX" && m[2] === "-" && base - offset >= RTMIN) return base - offset;
  return undefined;
}

/**
 * Parses "SIGTERM", "TERM", "term", "15", "SIGRTMIN+3", "RTMAX-1" into a
 * signal number in 1..64; anything else is INVALID_ARGUMENT on `field`.
 */
export function parseSignal(input: string, field = "signal"): number {
  const quoted = JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
  if (/^[0-9]+$/.test(input)) {
    const n = Number(input);
    if (n >= 1 && n <= MAX_SIGNAL) return n;
    throw invalidArgument(field, `${quoted} is not a signal number (1..${MAX_SIGNAL})`);
  }
  let name = input.toUpperCase();
  if (name.startsWith("SIG")) name = name.slice(3);
  const n = BY_NAME.get(name) ?? parseRealtime(name);
  if (n === undefined) throw invalidArgument(field, `${quoted} is not a known signal name or number`);
  return n;
}

/**
 * "SIGKILL" for 9, "SIGRTMIN+3" for 37. Display only: numbers without a name
 * (32, 33, out of range) come back as "SIG<n>" rather than throwing, so a
 * caller formatting an odd exit status never fails on it.
 */
export function signalName(n: number): string {
  const name = BY_NUMBER.get(n);
  if (name !== undefined) return `SIG${name}`;
  if (Number.isInteger(n) && n >= RTMIN && n <= RTMAX) {
    if (n === RTMIN) return "SIGRTMIN";
    if (n === RTMAX) return "SIGRTMAX";
    // Same split as kill -l: the lower half counts from RTMIN, the upper from RTMAX.
    return n - RTMIN <= (RTMAX - RTMIN) / 2 ? `SIGRTMIN+${n - RTMIN}` : `SIGRTMAX-${RTMAX - n}`;
  }
  return `SIG${n}`;
}
