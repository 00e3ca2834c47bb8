// Lifecycle benchmark: hull's whole create→start→wait→remove path against a
// bare `runc run` of the same rootfs and the same OCI spec (hull's own
// generateSpec), interleaved in one run so machine noise hits both alike;
// then ListContainers/InspectContainer latency with a 10k-container store,
// the load that made `podman ps` take seconds (podman #23210).
// Not a test: nothing here asserts on speed.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import Table from "cli-table3";
import { envInt, log, stats, timed, type Stats } from "./measure.js";
import type { ContainerServiceClient } from "../src/gen/hull/v1/container.js";
import { Client, credentials } from "@grpc/grpc-js";
import { ContainerServiceService, ListContainersRequest } from "../src/gen/hull/v1/container.js";
import { connectHulld, describeError, unary } from "../src/cli/client.js";
import { readHostLimits } from "../src/oci/hostinfo.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";
import { byContainer, sinkEnv, startSpanSink, type SpanSink } from "./otlp-sink.js";
import { addHulldPhases, addSample, phaseStats, rawPhases, type PhaseSamples } from "./lifecycle-phases.js";
import { probeRuntime, removeCgroupParents, runtimeRun, trueConfig, writeTrueBundle, type RuncEnv } from "./raw-runc.js";

const N = envInt("BENCH_N", 100);
const FILL = envInt("BENCH_FILL", 10_000);
const QUERIES = envInt("BENCH_QUERIES", 50);
const CONCURRENCY = envInt("BENCH_CONCURRENCY", 16);
// The first runs pay for page cache, JIT and runc's own start-up: keep them out of the numbers.
const WARMUP = 5;
const RUNC = process.env.BENCH_RUNC ?? "runc";

/** Runs `fn(i)` for i in [0, count) with at most `limit` in flight. */
async function pool(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** One whole hull lifecycle of `true`; returns its duration in ms and each RPC's, and the container's id. */
async function hullLifecycle(client: ContainerServiceClient, rootfs: string, phases?: PhaseSamples): Promise<{ ms: number; id: string }> {
  let id = "";
  const step = async (phase: string, fn: () => Promise<unknown>): Promise<void> => {
    const t = await timed(fn);
    if (phases) addSample(phases, `client ${phase}`, t);
  };
  const ms = await timed(async () => {
    await step("CreateContainer", async () => {
      id = (await unary(client.createContainer.bind(client), { config: trueConfig(rootfs) })).container?.id ?? "";
    });
    await step("StartContainer", () => unary(client.startContainer.bind(client), { id, recursive: false }));
    await step("WaitContainer", async () => {
      const waited = await unary(client.waitContainer.bind(client), { id });
      if (waited.exitCode !== 0) throw new Error(`container ${id.slice(0, 12)} exited ${waited.exitCode}, not 0`);
    });
    await step("RemoveContainer", () => unary(client.removeContainer.bind(client), { id, force: false }));
  });
  return { ms, id };
}

/** The other runtimes to measure beside runc: BENCH_RUNTIMES (comma-separated), else crun where installed. */
function extraRuntimes(): string[] {
  const given = process.env.BENCH_RUNTIMES;
  if (given !== undefined) return given.split(",").filter((r) => r !== "" && r !== RUNC);
  return existsSync("/usr/bin/crun") ? ["crun"] : [];
}

export interface LifecycleResult {
  rows: { name: string; stats: Stats; reference?: Stats; against?: string }[];
  phases: { phase: string; stats: Stats }[];
  notes: string[];
}

interface Contender {
  name: string;
  /** The row this one is compared with (ratio rows). */
  against?: string;
  once: (i: number) => Promise<number>;
}

async function lifecycles(
  daemons: { runtime: string; client: ContainerServiceClient }[],
  env: RuncEnv,
  sink: SpanSink,
  notes: string[],
): Promise<LifecycleResult> {
  const phases: PhaseSamples = new Map();
  const hullIds: string[] = [];
  const contenders: Contender[] = [];
  for (const d of daemons) {
    const isRunc = d.runtime === RUNC;
    const name = isRunc ? "hull lifecycle (create/start/wait/rm)" : `hull --runtime ${d.runtime} lifecycle`;
    contenders.push({
      name,
      against: `${d.runtime} run (same rootfs and spec)`,
      once: async (i) => {
        const r = await hullLifecycle(d.client, env.rootfs, isRunc && i >= 0 ? phases : undefined);
        if (isRunc) hullIds.push(r.id);
        return r.ms;
      },
    });
  }
  for (const d of daemons) contenders.push({ name: `${d.runtime} run (same rootfs and spec)`, once: (i) => runtimeRun(env, d.runtime, i) });
  // The floor of a per-step CLI engine: the runtime's own create, start and delete, one process each.
  contenders.push({
    name: `${RUNC} create+start+delete (raw phases)`,
    against: `${RUNC} run (same rootfs and spec)`,
    once: async (i) => {
      const id = `hp-${process.pid}-${i}`;
      await writeTrueBundle(env, id);
      return timed(() => rawPhases(RUNC, env.runcRoot, env.bundle, id, i >= 0 ? phases : new Map(), RUNC));
    },
  });
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let i = 0; i < WARMUP; i++) for (const c of contenders) await c.once(-1 - i);
  hullIds.length = 0;
  sink.clear();
  // Interleaved, so drift (thermal, page cache, other load) is shared.
  for (let i = 0; i < N; i++) {
    for (const c of contenders) samples.get(c.name)?.push(await c.once(i));
    if ((i + 1) % 25 === 0) log(`lifecycles ${i + 1}/${N}`);
  }
  // The exporter sends every OTEL_BSP_SCHEDULE_DELAY ms: let the last batch arrive.
  await new Promise((r) => setTimeout(r, 1000));
  const spans = byContainer(sink.spans());
  for (const id of hullIds) addHulldPhases(phases, spans.get(id) ?? []);
  if (spans.size === 0) notes.push("hulld exported no spans: the hulld phase rows are missing");
  const byName = new Map([...samples].map(([name, list]) => [name, stats(list)]));
  const rows = contenders.map((c) => {
    const own = byName.get(c.name) ?? stats([]);
    const reference = c.against !== undefined ? byName.get(c.against) : undefined;
    return { name: c.name, stats: own, ...(reference && c.against !== undefined ? { reference, against: c.against } : {}) };
  });
  return { rows, phases: phaseStats(phases), notes };
}

interface QueryStats {
  fillSeconds: number;
  list: Stats;
  /** The same list's bytes, not decoded: hulld's part and the transport, without ts-proto's decode in this process. */
  listWire: Stats;
  /** A list right after a container was created: the response is rebuilt, not reused. */
  listChanged: Stats;
  listedCount: number;
  byId: Stats;
  byName: Stats;
  byPrefix: Stats;
}

async function fillAndQuery(client: ContainerServiceClient, socket: string, rootfs: string, ids: string[]): Promise<QueryStats> {
  const names: string[] = [];
  const fillStart = Date.now();
  await pool(FILL, CONCURRENCY, async (i) => {
    const name = `bench-${i}`;
    const res = await unary(client.createContainer.bind(client), { config: trueConfig(rootfs, name) });
    ids.push(res.container?.id ?? "");
    names.push(name);
    if (ids.length % 1000 === 0) log(`created ${ids.length}/${FILL}`);
  });
  const fillSeconds = (Date.now() - fillStart) / 1000;

  const all: ListContainersRequest = { states: [], labels: {}, name: "", idPrefix: "" };
  const raw = new Client(`unix:${socket}`, credentials.createInsecure(), { "grpc.max_receive_message_length": 256 * 1024 * 1024 });
  const listBytes = (): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const encode = (req: ListContainersRequest): Buffer => Buffer.from(ListContainersRequest.encode(req).finish());
      raw.makeUnaryRequest(
        ContainerServiceService.listContainers.path,
        encode,
        (b: Buffer) => b,
        all,
        (err, res) => (err || !res ? reject(err ?? new Error("no response")) : resolve(res)),
      );
    });
  const list: number[] = [];
  const listWire: number[] = [];
  const listChanged: number[] = [];
  let listedCount = 0;
  // Interleaved, so machine noise hits the three alike.
  try {
    for (let i = 0; i < QUERIES; i++) {
      list.push(await timed(async () => void (listedCount = (await unary(client.listContainers.bind(client), all)).containers.length)));
      listWire.push(await timed(listBytes));
      await unary(client.createContainer.bind(client), { config: trueConfig(rootfs, `bench-changed-${i}`) });
      listChanged.push(await timed(() => unary(client.listContainers.bind(client), all)));
    }
  } finally {
    raw.close();
  }
  // Spread lookups over the store so no single record stays hot in a cache.
  const pick = (arr: string[], i: number): string => arr[Math.floor((i * arr.length) / QUERIES)] ?? "";
  const inspect = async (ref: (i: number) => string): Promise<Stats> => {
    const samples: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const id = ref(i);
      samples.push(await timed(() => unary(client.inspectContainer.bind(client), { id })));
    }
    return stats(samples);
  };
  return {
    fillSeconds,
    list: stats(list),
    listWire: stats(listWire),
    listChanged: stats(listChanged),
    listedCount,
    byId: await inspect((i) => pick(ids, i)),
    byName: await inspect((i) => pick(names, i)),
    // 16 hex digits: unique among 10k random ids with overwhelming odds.
    byPrefix: await inspect((i) => pick(ids, i).slice(0, 16)),
  };
}

/**
 * Times RemoveContainer with the store full, one call at a time like the
 * queries. The rest of the 10k go with the daemon's temp dirs: CONFIGURED
 * containers own nothing outside the store (no runtime container, no
 * monitor), and removing 10k through the API takes many minutes.
 * BENCH_REMOVE_ALL=1 removes every one through the API instead.
 */
async function removeAll(client: ContainerServiceClient, ids: string[]): Promise<Stats> {
  const all = process.env.BENCH_REMOVE_ALL === "1";
  const victims = all ? ids : ids.slice(0, QUERIES);
  let failed = 0;
  let done = 0;
  const samples: number[] = [];
  await pool(victims.length, all ? CONCURRENCY : 1, async (i) => {
    const id = victims[i] ?? "";
    const t0 = process.hrtime.bigint();
    try {
      await unary(client.removeContainer.bind(client), { id, force: true });
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } catch (err) {
      if (failed++ < 3) log(`remove ${id.slice(0, 12)}: ${describeError(err).message}`);
    }
    if (++done % 1000 === 0) log(`removed ${done}/${victims.length}`);
  });
  if (failed > 0) log(`${failed} removals failed; the daemon's temp dirs are deleted anyway`);
  return stats(samples);
}

const ms = (v: number): string => v.toFixed(1);

/** The lifecycle's breakdown: the client's RPCs, hulld's spans within them, and the raw runtime's steps. */
function phaseTable(life: LifecycleResult): string {
  const table = new Table({ head: ["lifecycle phase", "n", "p50 ms", "p95 ms", "mean ms"], style: { head: [], border: [] } });
  for (const { phase, stats: s } of life.phases) table.push([phase, String(s.n), ms(s.p50), ms(s.p95), ms(s.mean)]);
  const notes = life.notes.map((n) => `note: ${n}\n`).join("");
  return `${table.toString()}\n${notes}`;
}

function report(life: LifecycleResult, q: QueryStats | undefined, removal: Stats | undefined): string {
  const table = new Table({ head: ["measure", "n", "p50 ms", "p95 ms", "mean ms"], style: { head: [], border: [] } });
  const row = (name: string, s: Stats): void => void table.push([name, String(s.n), ms(s.p50), ms(s.p95), ms(s.mean)]);
  for (const r of life.rows) {
    row(r.name, r.stats);
    if (r.reference) {
      const ref = r.reference;
      const ratio = (a: number, b: number): string => (a / b).toFixed(2);
      table.push([`  ratio to ${r.against ?? ""}`, "", ratio(r.stats.p50, ref.p50), ratio(r.stats.p95, ref.p95), ratio(r.stats.mean, ref.mean)]);
    }
  }
  if (q) {
    row(`ListContainers (all ${q.listedCount}, decoded)`, q.list);
    row("ListContainers, bytes only (no client decode)", q.listWire);
    row("ListContainers after a create (decoded)", q.listChanged);
    row("InspectContainer by id", q.byId);
    row("InspectContainer by name", q.byName);
    row("InspectContainer by id prefix", q.byPrefix);
  }
  if (removal && removal.n > 0) {
    const how = process.env.BENCH_REMOVE_ALL === "1" ? `all, ${CONCURRENCY} in flight` : "one at a time";
    row(`RemoveContainer (configured; ${how})`, removal);
  }
  const fill = q ? `\nfilled the store with ${FILL} configured containers in ${q.fillSeconds.toFixed(1)} s (concurrency ${CONCURRENCY})` : "";
  return `${table.toString()}${fill}\n${phaseTable(life)}`;
}

async function main(): Promise<void> {
  const base = await mkdtemp("/tmp/hb-");
  const daemons: { runtime: string; daemon: TestDaemon; client: ContainerServiceClient }[] = [];
  let sink: SpanSink | undefined;
  const ids: string[] = [];
  let interrupted = false;
  let life: LifecycleResult | undefined;
  let queries: QueryStats | undefined;
  let removal: Stats | undefined;
  const onSignal = (): void => {
    // Second Ctrl-C: the user really wants out, cleanup or not.
    if (interrupted) process.exit(130);
    interrupted = true;
    log("interrupted: cleaning up (Ctrl-C again to abandon)");
    for (const d of daemons) d.client.close();
  };
  process.on("SIGINT", onSignal);
  try {
    log(`N=${N} lifecycles each, ${FILL} containers in the store, ${QUERIES} queries each`);
    const rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    const env: RuncEnv = { runcRoot: join(base, "runc"), bundle: join(base, "bundle"), rootfs, hostLimits: await readHostLimits() };
    sink = await startSpanSink();
    const notes: string[] = [];
    const runtimes = [RUNC];
    for (const bin of extraRuntimes()) {
      const failure = await probeRuntime(env, bin);
      if (failure === undefined) runtimes.push(bin);
      else notes.push(`${bin} does not run containers on this host (so no hull --runtime ${bin} row): ${failure}`);
    }
    for (const runtime of runtimes) {
      // Only runc's daemon exports spans: they give the phase rows.
      const env = runtime === RUNC ? sinkEnv(sink) : {};
      const daemon = await startTestDaemon({ runtime, env, logLevel: process.env.HULL_LOG_LEVEL ?? "warn" });
      daemons.push({ runtime, daemon, client: await connectHulld(daemon.socket) });
    }
    life = await lifecycles(daemons, env, sink, notes);
    const first = daemons[0];
    if (!first) throw new Error("no hulld started");
    const client = first.client;
    log("lifecycles done; filling the store");
    queries = await fillAndQuery(client, first.daemon.socket, rootfs, ids);
    log("timing RemoveContainer; the daemon's temp dirs take the rest");
    const started = Date.now();
    removal = await removeAll(client, ids);
    log(`${removal.n} removals took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    if (!interrupted) process.stderr.write(`bench: failed: ${describeError(err).message}\n`);
    for (const d of daemons) process.stderr.write(`hulld (${d.runtime}) output (tail):\n${d.daemon.output().slice(-4000)}\n`);
    process.exitCode = 1;
  } finally {
    for (const d of daemons) {
      d.client.close();
      await d.daemon.cleanup().catch((err: unknown) => log(`daemon cleanup: ${String(err)}`));
    }
    await sink?.close().catch((err: unknown) => log(`span sink: ${String(err)}`));
    await removeCgroupParents();
    await rm(base, { recursive: true, force: true });
    process.off("SIGINT", onSignal);
  }
  // Whatever was measured before a failure is still worth printing.
  if (life) process.stdout.write(report(life, queries, removal));
}

await main();
