// Output throughput: a container writing BENCH_BYTES (default 1 GiB) of
// ~100-byte lines to stdout, read by a client through AttachContainer
// (start-and-attach) and afterwards through ContainerLogs, against the same
// rootfs and spec run by bare `runc run` with stdout to /dev/null, in the
// same run. Not a test: nothing here asserts on speed.
import { spawn } from "node:child_process";
import { open, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import Table from "cli-table3";
import { log } from "./measure.js";
import { ContainerConfig, type ContainerServiceClient, type ContainerLogsResponse } from "../src/gen/hull/v1/container.js";
import { connectHulld, describeError, unary } from "../src/cli/client.js";
import { generateSpec } from "../src/oci/spec.js";
import { readHostLimits } from "../src/oci/hostinfo.js";
import { writeBundle } from "../src/oci/bundle.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";

const BYTES = Number(process.env.BENCH_BYTES ?? 1024 * 1024 * 1024);
const LINE = "0123456789".repeat(10);
const COMMAND = ["sh", "-c", `yes ${LINE} | head -c ${BYTES}`];

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Bare runc, stdout to /dev/null: the floor any daemon path is measured against. */
async function runcToDevNull(base: string, rootfs: string): Promise<number> {
  const bundle = join(base, "bundle");
  const id = `ht-${process.pid}`;
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

/** Start-and-attach; counts output bytes until the exit code arrives. */
function attachAndCount(client: ContainerServiceClient, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const call = client.attachContainer();
    call.on("data", (res: { message?: { $case: string; value: unknown } }) => {
      const m = res.message;
      if (m?.$case === "output") bytes += (m.value as { data: Buffer }).data.length;
      if (m?.$case === "exitCode") {
        call.end();
        resolve(bytes);
      }
    });
    call.on("error", reject);
    call.write({
      message: { $case: "open", value: { id, stdin: false, stdout: true, stderr: true, detachKeys: "", logs: false, start: true, recursive: false } },
    });
  });
}

/** Reads the whole log back; counts message bytes plus the newline each full line had. */
function readLogs(client: ContainerServiceClient, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const call = client.containerLogs({ id, follow: false, timestamps: false, stdout: true, stderr: true });
    call.on("data", (res: ContainerLogsResponse) => {
      for (const line of res.lines) bytes += line.data.length + (line.full ? 1 : 0);
    });
    call.on("error", reject);
    call.on("end", () => resolve(bytes));
  });
}

async function main(): Promise<void> {
  const base = await mkdtemp("/tmp/ht-");
  let daemon: TestDaemon | undefined;
  let client: ContainerServiceClient | undefined;
  try {
    const rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    daemon = await startTestDaemon({ logLevel: "warn" });
    client = await connectHulld(daemon.socket);
    log(`${(BYTES / 2 ** 20).toFixed(0)} MiB per run`);
    const runc = await runcToDevNull(base, rootfs);
    log(`runc run > /dev/null: ${runc.toFixed(2)} s`);
    const created = await unary(client.createContainer.bind(client), { config: ContainerConfig.fromPartial({ rootfsPath: rootfs, command: COMMAND }) });
    const id = created.container?.id ?? "";
    let attached = 0;
    const attach = await seconds(async () => (attached = await attachAndCount(client as ContainerServiceClient, id)));
    log(`attach: ${attached} bytes in ${attach.toFixed(2)} s`);
    let logged = 0;
    const logs = await seconds(async () => (logged = await readLogs(client as ContainerServiceClient, id)));
    log(`logs: ${logged} bytes in ${logs.toFixed(2)} s`);
    await unary(client.removeContainer.bind(client), { id, force: true, timeoutSeconds: 0 });

    const mibs = (bytes: number, s: number): string => (bytes / 2 ** 20 / s).toFixed(1);
    const table = new Table({ head: ["path", "bytes", "seconds", "MiB/s", "vs runc"], style: { head: [], border: [] } });
    table.push(["runc run, stdout > /dev/null", String(BYTES), runc.toFixed(2), mibs(BYTES, runc), "1.00"]);
    table.push(["hull start-and-attach (gRPC)", String(attached), attach.toFixed(2), mibs(attached, attach), (runc / attach).toFixed(2)]);
    table.push(["hull ContainerLogs (after exit)", String(logged), logs.toFixed(2), mibs(logged, logs), (runc / logs).toFixed(2)]);
    process.stdout.write(`${table.toString()}\n`);
    if (attached !== BYTES || logged !== BYTES) {
      process.stderr.write(`bench: byte counts differ from ${BYTES}: attach ${attached}, logs ${logged}\n`);
      process.exitCode = 1;
    }
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
