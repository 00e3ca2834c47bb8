// What every benchmark here shares: percentiles of samples, a timer, and a
// progress line on stderr (stdout is kept for the figures).
export interface Stats {
  n: number;
  p50: number;
  p95: number;
  mean: number;
}

/** Nearest-rank percentiles: p50 is the median sample, not an interpolation. */
export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: rank(0.5), p95: rank(0.95), mean };
}

/** Milliseconds fn took. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** A positive integer setting from the environment (BENCH_N and the like), or the fallback. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}="${raw}" is not a positive integer`);
  return n;
}
