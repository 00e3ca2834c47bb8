// The lifecycle's phases: as the client sees each RPC, as hulld's own spans
// (exported to bench/otlp-sink.ts) divide them, and the raw runtime's
// create/start/delete run one by one with no daemon: the floor of any
// engine that drives the runtime CLI per step, as hull, Podman and CRI-O do.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { stats, timed, type Stats } from "./measure.js";
import type { SpanRecord } from "./otlp-sink.js";

export type PhaseSamples = Map<string, number[]>;

export function addSample(into: PhaseSamples, phase: string, ms: number): void {
  const list = into.get(phase) ?? [];
  list.push(ms);
  into.set(phase, list);
}

export function phaseStats(samples: PhaseSamples): { phase: string; stats: Stats }[] {
  return [...samples].map(([phase, list]) => ({ phase, stats: stats(list) }));
}

const sum = (spans: SpanRecord[], pick: (s: SpanRecord) => boolean): number | undefined => {
  const hit = spans.filter(pick);
  return hit.length === 0 ? undefined : hit.reduce((a, s) => a + s.durationMs, 0);
};
const named = (name: string) => (s: SpanRecord) => s.name === name;

/** hulld's phases of one container's lifecycle, from its spans; a phase with no span is left out. */
export const HULLD_PHASES: { phase: string; of: (spans: SpanRecord[]) => number | undefined }[] = [
  { phase: "hulld CreateContainer", of: (s) => sum(s, named("hull.v1.ContainerService/CreateContainer")) },
  { phase: "hulld StartContainer", of: (s) => sum(s, named("hull.v1.ContainerService/StartContainer")) },
  { phase: "  init before conmon (spec, bundle, dirs)", of: (s) => sum(s, named("container.prepare")) },
  { phase: "  conmon + runtime create", of: (s) => sum(s, named("oci.create")) },
  { phase: "  runtime start", of: (s) => sum(s, named("oci.start")) },
  {
    // From `runc start` returning to hulld handling the exit file: the process's run, conmon's reap and write, inotify.
    phase: "start returned → exit noticed",
    of: (s) => {
      const start = s.find(named("oci.start"));
      const exit = s.find(named("container.exit"));
      return start && exit ? Number(exit.startNs - start.endNs) / 1e6 : undefined;
    },
  },
  { phase: "  exit recorded + cleanup", of: (s) => sum(s, named("container.exit")) },
  { phase: "  runtime delete", of: (s) => sum(s, named("oci.delete")) },
  { phase: "hulld WaitContainer", of: (s) => sum(s, named("hull.v1.ContainerService/WaitContainer")) },
  { phase: "hulld RemoveContainer", of: (s) => sum(s, named("hull.v1.ContainerService/RemoveContainer")) },
  { phase: "store calls (all, summed)", of: (s) => sum(s, (x) => x.name.startsWith("store.")) },
];

export function addHulldPhases(into: PhaseSamples, spansOfContainer: SpanRecord[]): void {
  for (const p of HULLD_PHASES) {
    const v = p.of(spansOfContainer);
    if (v !== undefined) addSample(into, p.phase, v);
  }
  // Each store method on its own line, summed over the lifecycle's calls.
  const store = new Map<string, number>();
  for (const s of spansOfContainer) if (s.name.startsWith("store.")) store.set(s.name, (store.get(s.name) ?? 0) + s.durationMs);
  for (const [name, ms] of store) addSample(into, `  ${name}`, ms);
}

/** Runs a runtime command to its exit with no stdio (a created container's init must not hold pipes of ours). */
function runQuiet(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${bin} ${args.join(" ")}: ${err.trim() || `exit ${code ?? signal}`}`));
    });
  });
}

/** Whether pid is gone or a zombie (its parent, not us, reaps it). */
async function ended(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  if (stat === "") return true;
  // Field 3, after the parenthesised comm (which may hold spaces).
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

/**
 * One create/start/wait/delete of a written bundle through the runtime CLI
 * alone. The wait polls /proc each millisecond: the bench has no monitor to
 * tell it, and the wait is not what this measures.
 */
export async function rawPhases(bin: string, root: string, bundle: string, id: string, into: PhaseSamples, label: string): Promise<void> {
  const pidFile = join(bundle, "raw.pid");
  const g = ["--root", root];
  addSample(into, `${label} create`, await timed(() => runQuiet(bin, [...g, "create", "-b", bundle, "--pid-file", pidFile, id])));
  const pid = Number((await readFile(pidFile, "utf8")).trim());
  addSample(into, `${label} start`, await timed(() => runQuiet(bin, [...g, "start", id])));
  addSample(
    into,
    `${label} wait (polled)`,
    await timed(async () => {
      while (!(await ended(pid))) await new Promise((r) => setTimeout(r, 1));
    }),
  );
  addSample(into, `${label} delete`, await timed(() => runQuiet(bin, [...g, "delete", id])));
}
