// CRI benchmark: critest's own `--benchmark` mode (cri-tools v1.32.0,
// pkg/benchmark) against a hulld started here and, in the same run, against
// containerd when its socket is up (../shared/critest-kit starts it at
// CRITEST_CONTAINERD_ENDPOINT's default). Only the pod lifecycle
// (RunPodSandbox, PodSandboxStatus verbose, StopPodSandbox,
// RemovePodSandbox) and the container one (CreateContainer, StartContainer,
// ContainerStatus, StopContainer, RemoveContainer) are run, BENCH_CRI_N (100)
// samples each at parallelism 1, in BENCH_CRI_ROUNDS (4) critest runs per
// runtime whose order alternates. The figures are
// critest's own (its *_benchmark_data.json), so they are what an outside
// client sees. Not a test: nothing here asserts on speed; without critest,
// the registry or CNI config it says what is missing and exits 0.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Table from "cli-table3";
import { envInt, log, stats } from "./measure.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";
import { CNI_CONFIG_DIR, CONTAINERD, executable, kitMissing, kitRegistriesConf, socketUp } from "./cri-kit.js";

const run = promisify(execFile);

const CRITEST = process.env.CRITEST ?? "/opt/critools/critest";
/** Samples per runtime and lifecycle, split over ROUNDS critest runs that alternate the runtimes (load on this shared machine shifts over minutes). */
const N = envInt("BENCH_CRI_N", 100);
const ROUNDS = envInt("BENCH_CRI_ROUNDS", 4);
const PER_ROUND = Math.ceil(N / ROUNDS);
const CRITEST_TIMEOUT_MS = 1_800_000;

interface Lifecycle {
  key: "pod" | "container";
  /** critest's It() name (pkg/benchmark/pod.go, container.go). */
  it: string;
  /** critest's file in its output dir. */
  file: string;
  label: string;
}
const ALL: readonly Lifecycle[] = [
  { key: "pod", it: "lifecycle of PodSandbox", file: "pod_benchmark_data.json", label: "pod lifecycle" },
  { key: "container", it: "basic operations on Container", file: "container_benchmark_data.json", label: "container lifecycle" },
];
/** BENCH_CRI_ONLY=pod or container runs one of them. */
const LIFECYCLES = ALL.filter((lc) => (process.env.BENCH_CRI_ONLY ?? lc.key) === lc.key);
const FOCUS = `benchmark about (${LIFECYCLES.map((lc) => lc.it).join("|")})`;

/** critest's LifecycleBenchmarksResultsSet as it writes it. */
interface ResultsSet {
  operationsNames: string[];
  datapoints: { operationsDurationsNs: number[] }[] | null;
}

/** Per lifecycle: the operations' names and every sample's durations (ms), summed over rounds. */
type Samples = Map<string, { names: string[]; rows: number[][] }>;

interface Target {
  name: string;
  endpoint: string;
  samples: Samples;
}

/** The params file of critest's pkg/framework (BenchmarkingParamsType's yaml names). */
async function paramsFile(dir: string): Promise<string> {
  const file = join(dir, "params.yaml");
  const lines = [
    `containersNumber: ${PER_ROUND}`,
    "containersNumberParallel: 1",
    "containerBenchmarkTimeoutSeconds: 600",
    `podsNumber: ${PER_ROUND}`,
    "podsNumberParallel: 1",
    "podBenchmarkTimeoutSeconds: 600",
    "imagesNumber: 0",
    "imagesNumberParallel: 1",
    "imageBenchmarkTimeoutSeconds: 60",
    "imagePullingBenchmarkImage: registry.k8s.io/e2e-test-images/busybox:1.29-2",
  ];
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

/** One critest --benchmark run against target; its samples are added to target's. */
async function runCritest(target: Target, params: string, work: string, round: number): Promise<void> {
  const dir = join(work, `${target.name}-${round}`);
  const out = join(dir, "out");
  await mkdir(out, { recursive: true });
  const args = [
    "--runtime-endpoint",
    target.endpoint,
    "--image-endpoint",
    target.endpoint,
    "--benchmark",
    "--benchmarking-params-file",
    params,
    "--benchmarking-output-dir",
    out,
    "--ginkgo.no-color",
    `--ginkgo.focus=${FOCUS}`,
  ];
  log(`critest round ${round + 1}/${ROUNDS} against ${target.name} (${PER_ROUND} samples of ${LIFECYCLES.map((lc) => lc.key).join(" and ")})`);
  try {
    // critest writes its ginkgo report in its working directory: its own dir.
    await run(CRITEST, args, { cwd: dir, timeout: CRITEST_TIMEOUT_MS, maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`critest against ${target.name} failed: ${e.message}\n${(e.stdout ?? "").slice(-4000)}${(e.stderr ?? "").slice(-4000)}`);
  }
  for (const lc of LIFECYCLES) {
    const set = JSON.parse(await readFile(join(out, lc.file), "utf8")) as ResultsSet;
    const got = target.samples.get(lc.label) ?? { names: set.operationsNames, rows: [] };
    for (const dp of set.datapoints ?? []) got.rows.push(dp.operationsDurationsNs.map((ns) => ns / 1e6));
    target.samples.set(lc.label, got);
  }
}

const ms = (x: number): string => x.toFixed(1);

function report(targets: readonly Target[]): string {
  const [hull, ref] = targets;
  const head = ["operation", ...targets.flatMap((t) => [`${t.name} p50 ms`, `${t.name} p95 ms`]), ...(ref ? [`p50 ${hull?.name} / ${ref.name}`] : [])];
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const lc of LIFECYCLES) {
    const names = hull?.samples.get(lc.label)?.names ?? [];
    const column = (t: Target, i: number): number[] => (t.samples.get(lc.label)?.rows ?? []).map((r) => (i < 0 ? r.reduce((a, b) => a + b, 0) : (r[i] ?? NaN)));
    for (let i = -1; i < names.length; i++) {
      // The whole lifecycle first, summed per sample (critest's own samples, not the sum of the p50s).
      const label = i < 0 ? `${lc.label} (sum per sample)` : `  ${names[i] ?? "?"}`;
      const s = targets.map((t) => stats(column(t, i)));
      const ratio = ref !== undefined && s[1] !== undefined && s[0] !== undefined ? [`${(s[0].p50 / s[1].p50).toFixed(2)}×`] : [];
      table.push([label, ...s.flatMap((x) => [ms(x.p50), ms(x.p95)]), ...ratio]);
    }
  }
  const n = targets.map((t) => `${t.name} ${t.samples.get(LIFECYCLES[0]?.label ?? "")?.rows.length ?? 0} pod samples`).join(", ");
  return `${table.toString()}\n(critest ${CRITEST} --benchmark, parallelism 1, ${ROUNDS} round(s) of ${PER_ROUND} samples, alternating which runtime goes first; ${n}; p50 is the median)\n`;
}

async function main(): Promise<void> {
  if (!(await executable(CRITEST))) {
    console.log(
      `cri bench: no critest at ${CRITEST}; build it as ../shared/critest-kit/README.md says (cri-tools v1.32.0: go test -c -o /opt/critools/critest ./cmd/critest) or set CRITEST`,
    );
    return;
  }
  const missing = await kitMissing();
  if (missing) {
    console.log(`cri bench: ${missing}`);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), "hull-bench-cri-"));
  let daemon: TestDaemon | undefined;
  try {
    daemon = await startTestDaemon({
      logLevel: process.env.HULL_LOG_LEVEL ?? "warn",
      registriesConf: await kitRegistriesConf(work),
      env: { HULL_CNI_CONFIG_DIR: CNI_CONFIG_DIR },
    });
    const targets: Target[] = [{ name: "hull", endpoint: `unix://${daemon.socket}`, samples: new Map() }];
    if (await socketUp(CONTAINERD)) targets.push({ name: "containerd", endpoint: CONTAINERD, samples: new Map() });
    else log(`no containerd at ${CONTAINERD} (../shared/critest-kit/start-containerd.sh): hull only`);
    const params = await paramsFile(work);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) await runCritest(t, params, work, round);
    }
    process.stdout.write(report(targets));
  } finally {
    await daemon?.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
