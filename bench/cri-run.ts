// CRI container run-to-exit: what the kubelet does for a Job's container,
// CreateContainer → StartContainer → ContainerStatus until EXITED →
// RemoveContainer, of `true` in one running pod, against hull and (when the
// kit's containerd is up) containerd 1.6, and bare `runc run` of the same
// command with the spec hull generates, interleaved sample by sample so load
// on this shared machine hits all alike. The CRI has no wait: the client
// polls ContainerStatus every BENCH_CRI_POLL_MS (2) ms, far below the
// kubelet's PLEG relist (1 s), so the figure is the runtime's and not the
// poll's. BENCH_CRI_RUN_N (100) samples each. Not a test: nothing here
// asserts on speed; without the kit it says what is missing and exits 0.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Table from "cli-table3";
import { envInt, log, stats, timed } from "./measure.js";
import { ContainerState, type PodSandboxConfig } from "../src/gen/runtime/v1/api.js";
import { readHostLimits } from "../src/oci/hostinfo.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";
import { containerConfig, criClient, podConfig, type CriClient } from "../test/helpers/cri.js";
import { CNI_CONFIG_DIR, CONTAINERD, kitMissing, kitRegistriesConf, socketUp } from "./cri-kit.js";
import { removeCgroupParents, runtimeRun, writeTrueBundle, type RuncEnv } from "./raw-runc.js";
import { phaseStats, rawPhases, type PhaseSamples } from "./lifecycle-phases.js";
import { byContainer, sinkEnv, startSpanSink, type SpanRecord, type SpanSink } from "./otlp-sink.js";

const N = envInt("BENCH_CRI_RUN_N", 100);
const POLL_MS = envInt("BENCH_CRI_POLL_MS", 2);
const WARMUP = 3;
/** critest's default image, served by the kit's registry. */
const IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.29-2";

interface Runtime {
  name: string;
  cri: CriClient;
  pod: { id: string; config: PodSandboxConfig };
  samples: number[];
  /** The containers measured (warm-up ones excluded), for the span breakdown. */
  ids: string[];
}

/** One run-to-exit of `true` in the runtime's pod; its duration in ms. */
async function runToExit(rt: Runtime, i: number, measured: boolean): Promise<number> {
  return timed(async () => {
    const { containerId } = await rt.cri.createContainer({
      podSandboxId: rt.pod.id,
      config: containerConfig(IMAGE, { metadata: { name: `run-${i}`, attempt: 0 }, command: ["true"], logPath: `run-${i}.log` }),
      sandboxConfig: rt.pod.config,
    });
    if (measured) rt.ids.push(containerId);
    await rt.cri.startContainer({ containerId });
    for (;;) {
      const { status } = await rt.cri.containerStatus({ containerId, verbose: false });
      if (status?.state === ContainerState.CONTAINER_EXITED) {
        if (status.exitCode !== 0) throw new Error(`${rt.name}: container ${containerId.slice(0, 12)} exited ${status.exitCode}, not 0`);
        break;
      }
      await sleep(POLL_MS);
    }
    await rt.cri.removeContainer({ containerId });
  });
}

async function openRuntime(name: string, socket: string, logDir: string): Promise<Runtime> {
  const cri = criClient(socket);
  await cri.pullImage({ image: { image: IMAGE, annotations: {}, userSpecifiedImage: "", runtimeHandler: "" } });
  const config = podConfig({ logDirectory: join(logDir, name) });
  const { podSandboxId } = await cri.runPodSandbox({ config, runtimeHandler: "" });
  return { name, cri, pod: { id: podSandboxId, config }, samples: [], ids: [] };
}

async function closeRuntime(rt: Runtime): Promise<void> {
  await rt.cri.stopPodSandbox({ podSandboxId: rt.pod.id }).catch((err: unknown) => log(`${rt.name}: stop pod: ${String(err)}`));
  await rt.cri.removePodSandbox({ podSandboxId: rt.pod.id }).catch((err: unknown) => log(`${rt.name}: remove pod: ${String(err)}`));
  rt.cri.close();
}

/** The runtime's own steps, one process each, as any per-step engine (hull, CRI-O, containerd's shim) must run them. */
interface RawSteps {
  totals: number[];
  phases: PhaseSamples;
}

function report(runtimes: readonly Runtime[], runc: number[], raw: RawSteps): string {
  const r = stats(runc);
  const table = new Table({ head: ["run-to-exit of true", "p50 ms", "p95 ms", "mean ms", "p50 / runc run p50"], style: { head: [], border: [] } });
  table.push(["runc run (same command, hull's spec)", r.p50.toFixed(1), r.p95.toFixed(1), r.mean.toFixed(1), "1.00"]);
  const t = stats(raw.totals);
  table.push([
    "runc create, start, wait, delete (raw steps, no monitor)",
    t.p50.toFixed(1),
    t.p95.toFixed(1),
    t.mean.toFixed(1),
    `${(t.p50 / r.p50).toFixed(2)}×`,
  ]);
  for (const { phase, stats: p } of phaseStats(raw.phases)) table.push([`  ${phase}`, p.p50.toFixed(1), p.p95.toFixed(1), p.mean.toFixed(1), ""]);
  for (const rt of runtimes) {
    const s = stats(rt.samples);
    table.push([
      `${rt.name} (CRI: create, start, status until exited, remove)`,
      s.p50.toFixed(1),
      s.p95.toFixed(1),
      s.mean.toFixed(1),
      `${(s.p50 / r.p50).toFixed(2)}×`,
    ]);
  }
  return `${table.toString()}\n(${N} samples each, interleaved; ContainerStatus polled every ${POLL_MS} ms; goal: hull ≤ 1.5× runc run)\n`;
}

/**
 * Where hull's run-to-exit goes, from hulld's own spans: per span name, the
 * p50 over the measured containers of that span's time summed within one
 * container, in the order the spans first start. Spans nest (an RPC holds
 * its oci.* calls), so the rows overlap and do not add up to the total.
 */
export function spanBreakdown(spans: SpanRecord[], ids: readonly string[]): string {
  const per = byContainer(spans);
  const sums = new Map<string, { first: bigint; totals: number[] }>();
  for (const id of ids) {
    const mine = per.get(id) ?? [];
    const t0 = mine.reduce((m, s) => (s.startNs < m ? s.startNs : m), mine[0]?.startNs ?? 0n);
    const byName = new Map<string, { first: bigint; ms: number }>();
    for (const s of mine) {
      const e = byName.get(s.name) ?? { first: s.startNs - t0, ms: 0 };
      e.ms += s.durationMs;
      if (s.startNs - t0 < e.first) e.first = s.startNs - t0;
      byName.set(s.name, e);
    }
    for (const [name, e] of byName) {
      const row = sums.get(name) ?? { first: e.first, totals: [] };
      row.totals.push(e.ms);
      if (e.first < row.first) row.first = e.first;
      sums.set(name, row);
    }
  }
  if (sums.size === 0) return "(hulld exported no spans: no breakdown)\n";
  const table = new Table({ head: ["hulld span (summed per container)", "containers", "p50 ms", "p95 ms"], style: { head: [], border: [] } });
  for (const [name, row] of [...sums].sort((a, b) => (a[1].first < b[1].first ? -1 : a[1].first > b[1].first ? 1 : 0))) {
    const s = stats(row.totals);
    table.push([name, String(row.totals.length), s.p50.toFixed(1), s.p95.toFixed(1)]);
  }
  return `${table.toString()}\n`;
}

async function main(): Promise<void> {
  const missing = await kitMissing();
  if (missing) {
    console.log(`cri run-to-exit bench: ${missing}`);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), "hull-bench-cri-run-"));
  let daemon: TestDaemon | undefined;
  const runtimes: Runtime[] = [];
  let sink: SpanSink | undefined;
  try {
    sink = await startSpanSink();
    daemon = await startTestDaemon({
      logLevel: process.env.HULL_LOG_LEVEL ?? "warn",
      registriesConf: await kitRegistriesConf(work),
      env: { HULL_CNI_CONFIG_DIR: CNI_CONFIG_DIR, ...sinkEnv(sink) },
    });
    runtimes.push(await openRuntime("hull", daemon.socket, work));
    if (await socketUp(CONTAINERD)) runtimes.push(await openRuntime("containerd", CONTAINERD.replace(/^unix:\/\//, ""), work));
    else log(`no containerd at ${CONTAINERD} (../shared/critest-kit/start-containerd.sh): hull only`);
    const env: RuncEnv = {
      runcRoot: join(work, "runc"),
      bundle: join(work, "bundle"),
      rootfs: await buildBusyboxRootfs(join(work, "rootfs")),
      hostLimits: await readHostLimits(),
    };
    const runc: number[] = [];
    const raw: RawSteps = { totals: [], phases: new Map() };
    for (let i = -WARMUP; i < N; i++) {
      // Who goes first alternates, as in the other benchmarks.
      const order = i % 2 === 0 ? runtimes : [...runtimes].reverse();
      for (const rt of order) {
        const ms = await runToExit(rt, i + WARMUP, i >= 0);
        if (i >= 0) rt.samples.push(ms);
      }
      const ms = await runtimeRun(env, "runc", i + WARMUP);
      if (i >= 0) runc.push(ms);
      const stepsId = `hs-${process.pid}-${i + WARMUP}`;
      await writeTrueBundle(env, stepsId);
      const steps = await timed(() => rawPhases("runc", env.runcRoot, env.bundle, stepsId, i >= 0 ? raw.phases : new Map(), "runc"));
      if (i >= 0) raw.totals.push(steps);
      if (i > 0 && i % 25 === 0) log(`run-to-exit ${i}/${N}`);
    }
    process.stdout.write(report(runtimes, runc, raw));
    // The exporter's batches go every 200 ms (sinkEnv): the last one must be in.
    await sleep(600);
    const hull = runtimes.find((rt) => rt.name === "hull");
    if (hull) process.stdout.write(spanBreakdown(sink.spans(), hull.ids));
  } catch (err) {
    if (daemon) process.stderr.write(`hulld output (tail):\n${daemon.output().slice(-4000)}\n`);
    throw err;
  } finally {
    for (const rt of runtimes) await closeRuntime(rt);
    await daemon?.cleanup();
    await removeCgroupParents();
    await sink?.close().catch((err: unknown) => log(`span sink: ${String(err)}`));
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
