// Output throughput: a container writing BENCH_BYTES (default 1 GiB) of
// ~100-byte lines to stdout, read by a client through AttachContainer
// (start-and-attach) and afterwards through ContainerLogs (a LogLine per line,
// and raw: output frames, as `hull logs` reads it), against the same
// rootfs and spec run by bare `runc run` with stdout to /dev/null. The three
// paths run interleaved, BENCH_ROUNDS (default 3) times, so every ratio
// compares figures taken under the same load. Each attach reports how often
// hulld moved it from conmon's socket to the log file (the
// hull-attach-log-fallbacks trailer). Not a test: nothing here asserts on
// speed.
//
// The client asks for an HTTP/2 window of BENCH_WINDOW bytes (default 4 MiB,
// about what grpc-go's BDP estimator grows to on a local socket; 0: grpc-js's
// 64 KiB default): with 64 KiB hulld may send only 64 KiB before each of the
// client's WINDOW_UPDATEs, a round trip between two processes per 64 KiB.
import { spawn } from "node:child_process";
import { open, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { credentials, type Metadata } from "@grpc/grpc-js";
import Table from "cli-table3";
import { envInt, log, stats } from "./measure.js";
import { ContainerConfig, ContainerServiceClient, type ContainerLogsResponse } from "../src/gen/hull/v1/container.js";
import { describeError, unary } from "../src/cli/client.js";
import { LOG_FALLBACKS_TRAILER } from "../src/service/attach-handler.js";
import { generateSpec } from "../src/oci/spec.js";
import { readHostLimits } from "../src/oci/hostinfo.js";
import { writeBundle } from "../src/oci/bundle.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";

const BYTES = envInt("BENCH_BYTES", 1024 * 1024 * 1024);
const ROUNDS = envInt("BENCH_ROUNDS", 3);
const WINDOW = process.env.BENCH_WINDOW === "0" ? 0 : envInt("BENCH_WINDOW", 4 * 1024 * 1024);
const LINE = "0123456789".repeat(10);
const COMMAND = ["sh", "-c", `yes ${LINE} | head -c ${BYTES}`];

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Bare runc, stdout to /dev/null: the floor any daemon path is measured against. */
async function runcToDevNull(base: string, rootfs: string, round: number): Promise<number> {
  const bundle = join(base, `bundle-${round}`);
  const id = `ht-${process.pid}-${round}`;
  const spec = generateSpec({
    id,
    config: ContainerConfig.fromPartial({ command: COMMAND }),
    rootfs,
    user: { uid: 0, gid: 0, additionalGids: [], home: "/root" },
    hostLimits: await readHostLimits(),
    cgroupsPath: `/hull-bench/${id}`,
  });
  await writeBundle(bundle, spec);
  const devNull = await open("/dev/null", "w");
  try {
    return await seconds(
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn("runc", ["--root", join(base, "runc"), "run", "-b", bundle, id], { stdio: ["ignore", devNull.fd, "inherit"] });
          child.on("error", reject);
          child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`runc run exited ${code}`))));
        }),
    );
  } finally {
    await devNull.close();
  }
}

/** Start-and-attach; counts output bytes until the call ends, and reads the fallback trailer. */
function attachAndCount(client: ContainerServiceClient, id: string): Promise<{ bytes: number; fallbacks: number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let exited = false;
    const call = client.attachContainer();
    call.on("data", (res: { message?: { $case: string; value: unknown } }) => {
      const m = res.message;
      if (m?.$case === "output") bytes += (m.value as { data: Buffer }).data.length;
      if (m?.$case === "exitCode") {
        exited = true;
        call.end();
      }
    });
    call.on("status", (status: { code: number; metadata: Metadata }) => {
      if (status.code !== 0) return;
      const fallbacks = Number(status.metadata.get(LOG_FALLBACKS_TRAILER)[0] ?? NaN);
      if (!exited) reject(new Error("attach ended without an exit code"));
      else resolve({ bytes, fallbacks });
    });
    call.on("error", reject);
    call.write({
      message: { $case: "open", value: { id, stdin: false, stdout: true, stderr: true, detachKeys: "", logs: false, start: true, recursive: false } },
    });
  });
}

/** Reads the whole log back, as LogLines or raw frames; counts message bytes plus the newline each full line had. */
function readLogs(client: ContainerServiceClient, id: string, raw: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const call = client.containerLogs({ id, follow: false, timestamps: false, stdout: true, stderr: true, raw });
    call.on("data", (res: ContainerLogsResponse) => {
      for (const line of res.lines) bytes += line.data.length + (line.full ? 1 : 0);
      for (const frame of res.output) bytes += frame.data.length;
    });
    call.on("error", reject);
    call.on("end", () => resolve(bytes));
  });
}

interface Round {
  runc: number;
  /** StartContainer + WaitContainer, no client reading: conmon writing the log alone, the floor of every hull path. */
  noClient: number;
  attach: number;
  logs: number;
  /** ContainerLogs with raw: OutputFrames instead of a LogLine per line. */
  logsRaw: number;
  fallbacks: number;
}

/** The container under conmon with nobody attached: what conmon's copy into the log costs by itself. */
async function startAndWait(client: ContainerServiceClient, rootfs: string): Promise<number> {
  const created = await unary(client.createContainer.bind(client), { config: ContainerConfig.fromPartial({ rootfsPath: rootfs, command: COMMAND }) });
  const id = created.container?.id ?? "";
  try {
    return await seconds(async () => {
      await unary(client.startContainer.bind(client), { id, recursive: false });
      await unary(client.waitContainer.bind(client), { id });
    });
  } finally {
    await unary(client.removeContainer.bind(client), { id, force: true, timeoutSeconds: 0 });
  }
}

async function round(client: ContainerServiceClient, base: string, rootfs: string, n: number): Promise<Round> {
  const runc = await runcToDevNull(base, rootfs, n);
  const noClient = await startAndWait(client, rootfs);
  const created = await unary(client.createContainer.bind(client), { config: ContainerConfig.fromPartial({ rootfsPath: rootfs, command: COMMAND }) });
  const id = created.container?.id ?? "";
  try {
    let got = { bytes: 0, fallbacks: 0 };
    const attach = await seconds(async () => (got = await attachAndCount(client, id)));
    let logged = 0;
    let loggedRaw = 0;
    const logs = await seconds(async () => (logged = await readLogs(client, id, false)));
    const logsRaw = await seconds(async () => (loggedRaw = await readLogs(client, id, true)));
    if (got.bytes !== BYTES || logged !== BYTES || loggedRaw !== BYTES) {
      throw new Error(`byte counts differ from ${BYTES}: attach ${got.bytes}, logs ${logged}, raw logs ${loggedRaw}`);
    }
    log(
      `round ${n}: runc ${runc.toFixed(2)} s, no client ${noClient.toFixed(2)} s, attach ${attach.toFixed(2)} s (${got.fallbacks} log fallbacks), logs ${logs.toFixed(2)} s, raw logs ${logsRaw.toFixed(2)} s`,
    );
    return { runc, noClient, attach, logs, logsRaw, fallbacks: got.fallbacks };
  } finally {
    await unary(client.removeContainer.bind(client), { id, force: true, timeoutSeconds: 0 });
  }
}

function report(rounds: Round[]): void {
  const mibs = (s: number): string => (BYTES / 2 ** 20 / s).toFixed(1);
  const runc = stats(rounds.map((r) => r.runc));
  const table = new Table({
    head: ["path", "p50 s", "p95 s", "p50 MiB/s", "vs runc (p50 of per-round ratios)", "log fallbacks per round"],
    style: { head: [], border: [] },
  });
  table.push(["runc run, stdout > /dev/null", runc.p50.toFixed(2), runc.p95.toFixed(2), mibs(runc.p50), "1.00", ""]);
  const row = (name: string, pick: (r: Round) => number, extra: string): void => {
    const s = stats(rounds.map(pick));
    const ratio = stats(rounds.map((r) => r.runc / pick(r)));
    table.push([name, s.p50.toFixed(2), s.p95.toFixed(2), mibs(s.p50), ratio.p50.toFixed(2), extra]);
  };
  row("hull start + wait, no client (conmon → log)", (r) => r.noClient, "");
  row("hull start-and-attach (gRPC)", (r) => r.attach, rounds.map((r) => r.fallbacks).join(", "));
  row("hull ContainerLogs, LogLines (after exit)", (r) => r.logs, "");
  row("hull ContainerLogs, raw frames (after exit)", (r) => r.logsRaw, "");
  process.stdout.write(`${(BYTES / 2 ** 20).toFixed(0)} MiB per run, ${ROUNDS} rounds, client window ${WINDOW || "64 KiB (default)"}\n${table.toString()}\n`);
}

async function main(): Promise<void> {
  const base = await mkdtemp("/tmp/ht-");
  let daemon: TestDaemon | undefined;
  let client: ContainerServiceClient | undefined;
  try {
    const rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    daemon = await startTestDaemon({ logLevel: "warn" });
    client = new ContainerServiceClient(`unix:${daemon.socket}`, credentials.createInsecure(), WINDOW > 0 ? { "grpc-node.flow_control_window": WINDOW } : {});
    const rounds: Round[] = [];
    for (let n = 1; n <= ROUNDS; n++) rounds.push(await round(client, base, rootfs, n));
    report(rounds);
  } catch (err) {
    process.stderr.write(`bench: failed: ${describeError(err).message}\n`);
    if (daemon) process.stderr.write(`hulld output (tail):\n${daemon.output().slice(-4000)}\n`);
    process.exitCode = 1;
  } finally {
    client?.close();
    await daemon?.cleanup();
    await rm(base, { recursive: true, force: true });
  }
}

await main();
