// CLI start-up benchmark: `hull ps -a`, `hull inspect NAME` and `hull start
// NAME` (of a `true` container) as whole processes against a real hulld
// with one container, interleaved with a bare `node -e 0` in the same rounds
// so machine noise hits all alike; each row's ratio is to node's p50.
// `podman ps -a` is measured too when podman is on PATH.
// Not a test: nothing here asserts on speed.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Table from "cli-table3";
import { envInt, log, stats, timed, type Stats } from "./measure.js";
import { ContainerConfig, ContainerState } from "../src/gen/hull/v1/container.js";
import { connectHulld, unary } from "../src/cli/client.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";

const run = promisify(execFile);
const N = envInt("BENCH_N", 30);
const WARMUP = 3;
// BENCH_HULL: another build of the CLI to time instead (say, an unbundled one).
const HULL = process.env.BENCH_HULL ?? fileURLToPath(new URL("../src/cli/hull.js", import.meta.url));
const NAME = "bench-cli";

async function podmanPresent(): Promise<boolean> {
  try {
    await run("podman", ["--version"]);
    return true;
  } catch {
    log("podman is not installed: no `podman ps -a` row");
    return false;
  }
}

async function main(): Promise<void> {
  const base = await mkdtemp("/tmp/hb-cli-");
  let daemon: TestDaemon | undefined;
  try {
    const rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    daemon = await startTestDaemon({ logLevel: process.env.HULL_LOG_LEVEL ?? "warn" });
    const client = await connectHulld(daemon.socket);
    const socket = daemon.socket;
    try {
      await unary(client.createContainer.bind(client), { config: ContainerConfig.fromPartial({ name: NAME, rootfsPath: rootfs, command: ["true"] }) });
      const hull =
        (...args: string[]) =>
        (): Promise<unknown> =>
          run(process.execPath, [HULL, "--socket", socket, ...args]);
      // `true` exits at once; its exit is waited for outside the clock so the next start finds it EXITED.
      const exited = (): Promise<unknown> => unary(client.waitContainer.bind(client), { id: NAME, condition: ContainerState.CONTAINER_STATE_EXITED });
      const rows: { name: string; fn: () => Promise<unknown>; after?: () => Promise<unknown> }[] = [
        { name: "node -e 0", fn: () => run(process.execPath, ["-e", "0"]) },
        { name: "hull ps -a", fn: hull("ps", "-a") },
        { name: `hull inspect ${NAME}`, fn: hull("inspect", NAME) },
        { name: `hull start ${NAME} (true)`, fn: hull("start", NAME), after: exited },
      ];
      if (await podmanPresent()) rows.push({ name: "podman ps -a", fn: () => run("podman", ["ps", "-a"]) });
      const samples = rows.map(() => [] as number[]);
      for (let i = 0; i < WARMUP + N; i++) {
        for (const [r, row] of rows.entries()) {
          const ms = await timed(row.fn);
          await row.after?.();
          if (i >= WARMUP) samples[r]?.push(ms);
        }
        if ((i + 1) % 10 === 0) log(`rounds ${i + 1}/${WARMUP + N}`);
      }
      process.stdout.write(report(rows.map((row, r) => ({ name: row.name, s: stats(samples[r] ?? []) }))));
    } finally {
      client.close();
    }
  } finally {
    await daemon?.cleanup().catch((err: unknown) => log(`daemon cleanup: ${String(err)}`));
    await rm(base, { recursive: true, force: true });
  }
}

function report(rows: { name: string; s: Stats }[]): string {
  const table = new Table({ head: ["process", "n", "p50 ms", "p95 ms", "p50 / node -e 0"], style: { head: [], border: [] } });
  const node = rows[0]?.s.p50 ?? NaN;
  for (const { name, s } of rows) table.push([name, String(s.n), s.p50.toFixed(1), s.p95.toFixed(1), (s.p50 / node).toFixed(2)]);
  return `${table.toString()}\n`;
}

await main();
