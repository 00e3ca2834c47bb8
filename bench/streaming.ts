// CRI exec throughput: BENCH_STREAM_BYTES (default 256 MiB) of ~100-byte
// lines written by a command exec'd in a running container, read through
// the streaming server's exec over SPDY (as client-go reads it) and over
// WebSocket, through ExecSync (which reads it all and keeps 16 MiB), and by
// bare `runc exec` in the same container with stdout to /dev/null, in the
// same run, BENCH_ROUNDS times each (interleaved). Not a test: nothing here
// asserts on speed.
import { spawn } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Table from "cli-table3";
import { envInt, log, stats, timed } from "./measure.js";
import { startTestDaemon, RUNTIME_ROOT_SUBDIR, type TestDaemon } from "../test/helpers/daemon.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { PAUSE, criClient, hostNetworkPod, importTestImages, startInPod } from "../test/helpers/cri.js";
import { isRefusal, upgradeSpdy } from "../test/helpers/streaming.js";
import { WebSocket } from "ws";
import { credentials } from "@grpc/grpc-js";
import { RuntimeServiceClient, type ExecSyncResponse } from "../src/gen/runtime/v1/api.js";

const BYTES = envInt("BENCH_STREAM_BYTES", 256 * 1024 * 1024);
const ROUNDS = envInt("BENCH_ROUNDS", 3);
const LINE = "0123456789".repeat(10);
const COMMAND = ["sh", "-c", `yes ${LINE} | head -c ${BYTES}`];

/** Reads an exec over SPDY to its end; the stdout byte count. */
async function spdyExec(url: string): Promise<number> {
  const up = await upgradeSpdy(url, ["v4.channel.k8s.io"]);
  if (isRefusal(up)) throw new Error(`refused: ${up.status} ${up.body}`);
  const { session } = up;
  const error = await session.openStream({ streamType: "error" });
  const stdout = await session.openStream({ streamType: "stdout" });
  let bytes = 0;
  let status = "";
  await Promise.all([
    new Promise<void>((resolve) => {
      stdout.on("data", (c: Buffer) => (bytes += c.length));
      stdout.on("end", resolve);
    }),
    new Promise<void>((resolve) => {
      error.on("data", (c: Buffer) => (status += c.toString()));
      error.on("end", resolve);
    }),
  ]);
  await session.close();
  if (!status.includes('"Success"')) throw new Error(`exec failed: ${status}`);
  return bytes;
}

function wsExec(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), ["v5.channel.k8s.io"]);
    let bytes = 0;
    ws.on("message", (d: Buffer) => {
      if (d[0] === 1) bytes += d.length - 1;
    });
    ws.on("error", reject);
    ws.on("close", () => resolve(bytes));
  });
}

async function runcExec(runRoot: string, id: string): Promise<void> {
  const devNull = await open("/dev/null", "w");
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn("runc", ["--root", join(runRoot, RUNTIME_ROOT_SUBDIR), "exec", id, ...COMMAND], { stdio: ["ignore", devNull.fd, "inherit"] });
      child.on("error", reject);
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`runc exec exited ${code}`))));
    });
  } finally {
    await devNull.close();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "hull-bench-stream-"));
  let daemon: TestDaemon | undefined;
  try {
    const rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    daemon = await startTestDaemon({ logLevel: "warn", env: { HULL_PAUSE_IMAGE: PAUSE, HULL_CNI_CONFIG_DIR: join(work, "no-net.d") } });
    await importTestImages(daemon.socket, work, rootfs);
    const cri = criClient(daemon.socket);
    // The kubelet's CRI client takes messages of up to 16 MiB; ExecSync's answer is that large.
    const big = new RuntimeServiceClient(`unix:${daemon.socket}`, credentials.createInsecure(), { "grpc.max_receive_message_length": 64 * 1024 * 1024 });
    const config = hostNetworkPod();
    const { podSandboxId } = await cri.runPodSandbox({ config, runtimeHandler: "" });
    const ctr = await startInPod(cri, { id: podSandboxId, config });
    const d = daemon;
    const url = async (): Promise<string> => (await cri.exec({ containerId: ctr, cmd: COMMAND, stdout: true, stderr: false, stdin: false, tty: false })).url;
    const paths: Record<string, { run: () => Promise<number>; ms: number[] }> = {
      "runc exec > /dev/null": { run: async () => (await runcExec(d.runRoot, ctr), BYTES), ms: [] },
      "Exec over SPDY (streaming server)": { run: async () => spdyExec(await url()), ms: [] },
      "Exec over WebSocket v5": { run: async () => wsExec(await url()), ms: [] },
      "ExecSync (reads all, keeps 16 MiB)": {
        run: async () => {
          const r = await new Promise<ExecSyncResponse>((resolve, reject) =>
            big.execSync({ containerId: ctr, cmd: COMMAND, timeout: 600n }, (err, res) => (err ? reject(err) : resolve(res))),
          );
          if (r.exitCode !== 0) throw new Error(`ExecSync exited ${r.exitCode}`);
          return BYTES;
        },
        ms: [],
      },
    };
    log(`${(BYTES / 2 ** 20).toFixed(0)} MiB per run, ${ROUNDS} rounds`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, p] of Object.entries(paths)) {
        let got = 0;
        const ms = await timed(async () => (got = await p.run()));
        if (got !== BYTES) throw new Error(`${name}: ${got} of ${BYTES} bytes`);
        p.ms.push(ms);
        log(`round ${round + 1}: ${name}: ${(ms / 1000).toFixed(2)} s`);
      }
    }
    const floor = stats(paths["runc exec > /dev/null"]?.ms ?? []).p50;
    const table = new Table({ head: ["path", "p50 s", "p95 s", "MiB/s (p50)", "vs runc exec"], style: { head: [], border: [] } });
    for (const [name, p] of Object.entries(paths)) {
      const s = stats(p.ms);
      table.push([name, (s.p50 / 1000).toFixed(2), (s.p95 / 1000).toFixed(2), (BYTES / 2 ** 20 / (s.p50 / 1000)).toFixed(0), `${(floor / s.p50).toFixed(2)}×`]);
    }
    process.stdout.write(`CRI exec output, ${(BYTES / 2 ** 20).toFixed(0)} MiB\n${table.toString()}\n`);
    await cri.stopPodSandbox({ podSandboxId });
    await cri.removePodSandbox({ podSandboxId });
    cri.close();
    big.close();
  } finally {
    await daemon?.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
