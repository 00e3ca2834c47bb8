// hulld's memory, in one run: resident set size idle (after start and a
// settle) and after BENCH_LIFECYCLES create→start→wait→remove lifecycles of
// `true`, each after a forced full GC, with the V8 heap in use. hulld runs
// with the node flags of its own #! line (as the installed command runs;
// the test helper spawns node on the file), --expose-gc and its inspector on loopback; the bench asks it, through
// the inspector, to collect garbage and report process.memoryUsage(), so the
// figures are the daemon's own (the same VmRSS /proc reports). Not a test:
// nothing here asserts on memory.
import { readdir, readFile, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Table from "cli-table3";
import WebSocket from "ws";
import { envInt, log, stats, type Stats } from "./measure.js";
import { ContainerConfig, type ContainerServiceClient } from "../src/gen/hull/v1/container.js";
import { connectHulld, describeError, unary } from "../src/cli/client.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { HULLD_PATH, startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";

const LIFECYCLES = envInt("BENCH_LIFECYCLES", 1000);
const SAMPLES = envInt("BENCH_SAMPLES", 5);
const SETTLE_MS = envInt("BENCH_SETTLE_MS", 2000);
const MIB = 2 ** 20;
// BENCH_HEAPSNAPSHOTS=1: hulld writes a heap snapshot (into the bench's working directory) after each row, to compare what grew.
const SNAPSHOTS = process.env.BENCH_HEAPSNAPSHOTS === "1";

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

/** hulld's pid: the node process whose command line names hulld's entry point and this daemon's socket. */
async function hulldPid(socket: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    const args = cmdline.split("\0");
    if (args.includes(HULLD_PATH) && args.includes(socket)) return Number(entry);
  }
  throw new Error(`no hulld process serving ${socket}`);
}

/** The node flags on hulld.js's `#!/usr/bin/env -S node …` line. */
async function shebangFlags(): Promise<string[]> {
  const first = (await readFile(HULLD_PATH, "utf8")).split("\n", 1)[0];
  const m = /^#!\/usr\/bin\/env -S node((?: --\S+)*)\s*$/.exec(first);
  if (!m) throw new Error(`unexpected #! line in ${HULLD_PATH}: ${first}`);
  return m[1]
    .trim()
    .split(/\s+/)
    .filter((f) => f !== "");
}

/** A session on hulld's inspector (its URL is the "Debugger listening on ws://…" line hulld prints). */
class Inspector {
  private next = 1;
  private constructor(private readonly ws: WebSocket) {}

  static async connect(output: string): Promise<Inspector> {
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
    if (!url) throw new Error("hulld printed no inspector URL (is --inspect in NODE_OPTIONS?)");
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Inspector(ws);
  }

  /** Evaluates expression in hulld's main context; resolves to its JSON value. */
  evaluate(expression: string): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const onMessage = (data: WebSocket.RawData): void => {
        const msg = JSON.parse(data.toString()) as { id?: number; result?: { result?: { value?: unknown }; exceptionDetails?: { text?: string } } };
        if (msg.id !== id) return;
        this.ws.off("message", onMessage);
        if (msg.result?.exceptionDetails) reject(new Error(`inspector: ${msg.result.exceptionDetails.text ?? "exception"}`));
        else resolve(msg.result?.result?.value);
      };
      this.ws.on("message", onMessage);
      this.ws.send(JSON.stringify({ id, method: "Runtime.evaluate", params: { expression, returnByValue: true } }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** A full GC in hulld, then its memory. */
async function collectAndMeasure(inspector: Inspector): Promise<Memory> {
  const m = (await inspector.evaluate(
    "(() => { gc(); const m = process.memoryUsage(); return { rss: m.rss, heapUsed: m.heapUsed, external: m.external }; })()",
  )) as Memory;
  return m;
}

async function vmRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** SAMPLES readings a settle apart: VmRSS from /proc before the GC (as an operator sees it), then the GC'd figures. */
async function sample(inspector: Inspector, pid: number): Promise<{ seen: Stats; rss: Stats; heap: Stats }> {
  const seen: number[] = [];
  const rss: number[] = [];
  const heap: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    await sleep(SETTLE_MS / SAMPLES);
    seen.push((await vmRss(pid)) / MIB);
    const m = await collectAndMeasure(inspector);
    rss.push(m.rss / MIB);
    heap.push(m.heapUsed / MIB);
  }
  return { seen: stats(seen), rss: stats(rss), heap: stats(heap) };
}

async function lifecycle(client: ContainerServiceClient, rootfs: string): Promise<void> {
  const created = await unary(client.createContainer.bind(client), { config: ContainerConfig.fromPartial({ rootfsPath: rootfs, command: ["true"] }) });
  const id = created.container?.id ?? "";
  await unary(client.startContainer.bind(client), { id, recursive: false });
  const waited = await unary(client.waitContainer.bind(client), { id });
  if (waited.exitCode !== 0) throw new Error(`container ${id.slice(0, 12)} exited ${waited.exitCode}, not 0`);
  await unary(client.removeContainer.bind(client), { id, force: false });
}

function report(rows: [string, { seen: Stats; rss: Stats; heap: Stats }][]): string {
  const table = new Table({
    head: ["hulld", "n", "VmRSS p50 MiB", "p95", "RSS after GC p50 MiB", "p95", "heap used p50 MiB", "p95"],
    style: { head: [], border: [] },
  });
  const f = (v: number): string => v.toFixed(1);
  for (const [name, s] of rows) table.push([name, String(s.rss.n), f(s.seen.p50), f(s.seen.p95), f(s.rss.p50), f(s.rss.p95), f(s.heap.p50), f(s.heap.p95)]);
  const [, idle] = rows[0];
  const last = rows[rows.length - 1][1];
  const growth = `growth after GC: RSS ${f(last.rss.p50 - idle.rss.p50)} MiB, heap ${f(last.heap.p50 - idle.heap.p50)} MiB`;
  return `${table.toString()}\n(${growth}; ${SAMPLES} samples over ${SETTLE_MS} ms per row; goal: ≤ 80 MiB idle, flat after lifecycles)\n`;
}

async function main(): Promise<void> {
  const base = await mkdtemp("/tmp/hr-");
  let daemon: TestDaemon | undefined;
  let client: ContainerServiceClient | undefined;
  let inspector: Inspector | undefined;
  const rows: [string, { seen: Stats; rss: Stats; heap: Stats }][] = [];
  try {
    const rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    daemon = await startTestDaemon({
      logLevel: process.env.HULL_LOG_LEVEL ?? "warn",
      env: {
        NODE_OPTIONS: [
          process.env.NODE_OPTIONS ?? "",
          ...(await shebangFlags()),
          "--expose-gc",
          "--inspect=127.0.0.1:0",
          SNAPSHOTS ? "--heapsnapshot-signal=SIGUSR2" : "",
        ]
          .filter((f) => f !== "")
          .join(" "),
      },
    });
    const pid = await hulldPid(daemon.socket);
    inspector = await Inspector.connect(daemon.output());
    client = await connectHulld(daemon.socket);
    const snapshot = async (): Promise<void> => {
      if (!SNAPSHOTS) return;
      process.kill(pid, "SIGUSR2");
      // The signal's snapshot is written synchronously on hulld's main thread: the next evaluate answers once it is done.
      await inspector?.evaluate("0");
    };
    rows.push(["idle after start", await sample(inspector, pid)]);
    await snapshot();
    const marks = [...new Set([Math.min(100, LIFECYCLES), LIFECYCLES])];
    let done = 0;
    for (const mark of marks) {
      for (; done < mark; done++) {
        await lifecycle(client, rootfs);
        if ((done + 1) % 100 === 0) log(`lifecycles ${done + 1}/${LIFECYCLES}`);
      }
      rows.push([`after ${mark} lifecycles`, await sample(inspector, pid)]);
      await snapshot();
    }
  } catch (err) {
    process.stderr.write(`bench: failed: ${describeError(err).message}\n`);
    if (daemon) process.stderr.write(`hulld output (tail):\n${daemon.output().slice(-4000)}\n`);
    process.exitCode = 1;
  } finally {
    inspector?.close();
    client?.close();
    await daemon?.cleanup().catch((err: unknown) => log(`daemon cleanup: ${String(err)}`));
    await rm(base, { recursive: true, force: true });
  }
  if (rows.length > 0) process.stdout.write(report(rows));
}

await main();
