// Starts hulld in temp dirs for an integration test file and tears it (and
// anything it left behind: runtime containers, conmon processes, mounts) down.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, mkdir, rm, readdir, readFile, writeFile } from "node:fs/promises";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { ContainerServiceClient } from "../../src/gen/hull/v1/container.js";
import { type Api, makeApi } from "./api.js";

const execFileP = promisify(execFile);

/** hulld's entry point, relative to this file once compiled into dist/test/helpers. */
export const HULLD_PATH = fileURLToPath(new URL("../../src/hulld.js", import.meta.url));
/** hulld passes `--root <run-root>/<RUNTIME_ROOT_SUBDIR>` to the OCI runtime. */
export const RUNTIME_ROOT_SUBDIR = "runc";
/** How long hulld may take to print its listening line. */
export const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;
const MAX_OUTPUT = 1 << 20;

export interface TestDaemonOptions {
  runtime?: string;
  env?: Record<string, string>;
  root?: string;
  runRoot?: string;
  logLevel?: string;
  /** --registries-conf; by default one that blocks docker.io, so no short name a test sends ever leaves loopback. */
  registriesConf?: string;
}

export interface TestDaemon {
  socket: string;
  root: string;
  runRoot: string;
  /** Replaced by restart(): always read it from the TestDaemon. */
  client: ContainerServiceClient;
  /** Replaced by restart(): always read it from the TestDaemon. */
  api: Api;
  /** Everything hulld printed (stdout and stderr, interleaved) in every run so far. */
  output(): string;
  /** Whether the current hulld process is still running. */
  running(): boolean;
  /** SIGTERM, await the exit; resolves to the exit code (null if killed by a signal). */
  stop(): Promise<number | null>;
  /** SIGKILL, await the exit. */
  kill(): Promise<void>;
  /** stop() (a no-op when already dead), then start again on the same dirs with a new client. */
  restart(): Promise<void>;
  /** Stops hulld, removes leftover runtime containers, conmons and mounts, deletes the temp dirs. */
  cleanup(): Promise<void>;
}

export interface HulldRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

export function hulldArgs(socket: string, root: string, runRoot: string, opts: TestDaemonOptions = {}): string[] {
  const args = [HULLD_PATH, "--socket", socket, "--root", root, "--run-root", runRoot];
  if (opts.runtime) args.push("--runtime", opts.runtime);
  if (opts.registriesConf) args.push("--registries-conf", opts.registriesConf);
  args.push("--log-level", opts.logLevel ?? process.env.HULL_TEST_LOG_LEVEL ?? "debug");
  return args;
}

/** Runs hulld to completion (for daemons expected to refuse to start); kills it after `timeoutMs`. */
export async function runHulld(args: string[], env: Record<string, string> = {}, timeoutMs = START_TIMEOUT_MS): Promise<HulldRun> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr.on("data", (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code, signal] = await exited(child);
  clearTimeout(timer);
  return { code, signal, output };
}

function exited(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve([child.exitCode, child.signalCode]);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
}

class Daemon implements TestDaemon {
  client!: ContainerServiceClient;
  api!: Api;
  private child: ChildProcess | undefined;
  private log = "";
  private lastCode: number | null = null;

  constructor(
    readonly socket: string,
    readonly root: string,
    readonly runRoot: string,
    private readonly opts: TestDaemonOptions,
    private readonly tempDirs: string[],
  ) {}

  output(): string {
    return this.log;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private append(chunk: string): void {
    this.log += chunk;
    if (this.log.length > MAX_OUTPUT) this.log = this.log.slice(-MAX_OUTPUT);
  }

  async start(): Promise<void> {
    const startedAt = this.log.length;
    const child = spawn(process.execPath, hulldArgs(this.socket, this.root, this.runRoot, this.opts), {
      env: { ...process.env, ...this.opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const onData = (b: Buffer): void => {
        this.append(b.toString());
        if (this.log.slice(startedAt).includes(`hulld listening on`)) finish();
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("error", (err) => finish(new Error(`cannot spawn hulld: ${err.message}`)));
      child.once("exit", (code, signal) =>
        finish(new Error(`hulld exited (code ${code}, signal ${signal}) before listening; output:\n${this.log.slice(startedAt)}`)),
      );
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        finish(new Error(`hulld did not print "hulld listening on" within ${START_TIMEOUT_MS} ms; output:\n${this.log.slice(startedAt)}`));
      }, START_TIMEOUT_MS);
    });
    this.client = new ContainerServiceClient(`unix:${this.socket}`, grpc.credentials.createInsecure());
    this.api = makeApi(this.client);
  }

  private closeClient(): void {
    this.client?.close();
  }

  async stop(): Promise<number | null> {
    this.closeClient();
    const child = this.child;
    if (!child) return this.lastCode;
    if (!this.running()) return (this.lastCode = child.exitCode);
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const [code, signal] = await exited(child);
    clearTimeout(timer);
    if (signal === "SIGKILL") {
      throw new Error(`hulld did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; output:\n${this.log}`);
    }
    this.lastCode = code;
    return code;
  }

  async kill(): Promise<void> {
    this.closeClient();
    const child = this.child;
    if (!child || !this.running()) return;
    child.kill("SIGKILL");
    await exited(child);
    this.lastCode = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanup(): Promise<void> {
    try {
      await this.stop();
    } catch {
      await this.kill();
    }
    await removeRuntimeContainers(this.runRoot, this.opts.runtime);
    killConmons([this.runRoot, this.root]);
    await unmountUnder([this.runRoot, this.root]);
    for (const dir of this.tempDirs) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Starts hulld on temp dirs (or the given ones) and resolves once it listens. */
export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  // Short paths: conmon's attach socket path must stay under 108 bytes.
  const base = await mkdtemp("/tmp/h-");
  const root = opts.root ?? join(base, "r");
  const runRoot = opts.runRoot ?? join(base, "x");
  await mkdir(root, { recursive: true });
  await mkdir(runRoot, { recursive: true });
  const tempDirs = [base];
  let registriesConf = opts.registriesConf;
  if (registriesConf === undefined && opts.env?.HULL_REGISTRIES_CONF === undefined) {
    // Short names mean docker.io (the kubelet's normalisation): tests must never reach it, whatever they send.
    registriesConf = join(base, "offline-registries.conf");
    await writeFile(registriesConf, '[[registry]]\nprefix = "docker.io"\nblocked = true\n');
  }
  const daemon = new Daemon(join(base, "s.sock"), root, runRoot, { ...opts, registriesConf }, tempDirs);
  try {
    await daemon.start();
  } catch (err) {
    await daemon.cleanup().catch(() => undefined);
    throw err;
  }
  return daemon;
}

/** Force-deletes every container the OCI runtime still knows under `runRoot`. */
export async function removeRuntimeContainers(runRoot: string, runtime?: string): Promise<void> {
  const bin = runtime && (runtime.includes("/") || runtime === "crun") ? runtime : "runc";
  const stateDir = join(runRoot, RUNTIME_ROOT_SUBDIR);
  if (!existsSync(stateDir)) return;
  let ids: string[] = [];
  try {
    const { stdout } = await execFileP(bin, ["--root", stateDir, "list", "-q"]);
    ids = stdout
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
  } catch {
    // Fall back to the state directory's entries: one directory per container.
    ids = (await readdir(stateDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  }
  for (const id of ids) {
    await execFileP(bin, ["--root", stateDir, "delete", "-f", id]).catch(() => undefined);
  }
}

/** SIGKILLs conmon processes whose command line mentions one of `dirs`. */
export function killConmons(dirs: string[]): number {
  let killed = 0;
  for (const pid of listPids()) {
    const argv = cmdline(pid);
    if (argv.length === 0 || !basename(argv[0] ?? "").includes("conmon")) continue;
    const joined = argv.join(" ");
    if (!dirs.some((d) => joined.includes(d))) continue;
    try {
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}

function listPids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((p) => p !== process.pid);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Lazily unmounts every mount point below `dirs` (deepest first). */
export async function unmountUnder(dirs: string[]): Promise<void> {
  let mountinfo = "";
  try {
    mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return;
  }
  const points = mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && dirs.some((d) => p === d || p.startsWith(`${d}/`)))
    .map((p) => p.replace(/\\040/g, " "))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await execFileP("umount", ["-l", p]).catch(() => undefined);
}

/** Whether a process exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
