// Starting a container's monitor. conmon 2.1.6 runs `RUNTIME create`, holds
// the container's stdio (log file, attach socket), reaps it and writes its
// exit status to --exit-dir. It double-forks and calls setsid, so containers
// outlive hulld; hulld then runs `RUNTIME start` itself.
//
// Protocol with conmon (src/conmon.c, parent_pipe_fd.c in containers/conmon):
// - _OCI_STARTPIPE=<fd>: conmon blocks on one read before forking anything
//   (time for a parent to move it into a cgroup; hull writes at once).
// - _OCI_SYNCPIPE=<fd>: with --api-version 1, one JSON line once create is
//   done: {"data": <container pid>} or {"data": -1, "message": "<runtime
//   stderr>"}. conmon keeps the fd open while it lives, so success is the line,
//   not EOF; EOF with no line means conmon died (its stderr says why).
// - The first conmon process writes --conmon-pidfile (the pid of the
//   daemonized monitor) and exits 0 right after forking.
import { spawn, type StdioOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, open, readFile, rm, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { inSpan } from "../tracing.js";
import { HullError } from "../errors.js";
import { resolveBinary, runtimeErrorText, type RuntimeCli } from "./runtime-cli.js";

export interface ConmonOptions {
  id: string;
  name: string;
  bundlePath: string;
  runtime: RuntimeCli;
  exitDir: string;
  /** This container's own dir: conmon writes "exit" and, on OOM, "oom" in it. */
  persistDir: string;
  /** conmon gets no --log-size-max: its own rotation replaces the file under readers; hulld rotates (engine/log-rotator.ts). */
  logPath: string;
  tty: boolean;
  stdin: boolean;
  /**
   * conmon links <socketDir>/<id> to the bundle and binds <socketDir>/<id>/attach.
   * conmon itself binds through /proc/self/fd, but a client connecting by path
   * is bound by the 108-byte sun_path (107 usable): with 64-char ids
   * socketDir may be at most 35 bytes long. See attachSocketPath.
   */
  socketDir: string;
  conmonBinary?: string;
  /** hull's (pino's) level; mapped onto conmon's. */
  logLevel?: string;
  /**
   * Restore from a CRIU image instead of creating: conmon then runs
   * `RUNTIME restore --detach --image-path DIR --work-path BUNDLE [opts]`
   * and the container is running when the sync pipe answers.
   */
  restore?: { imagePath: string; runtimeOpts: string[] };
}

export interface ConmonResult {
  /** The container's init pid (runtime state "created"). */
  pid: number;
  /** The daemonized conmon's pid. */
  conmonPid: number;
}

/** Longest socket path a client can connect() to (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

// A safety net only: the sync pipe answers as soon as create is done.
const CREATE_TIMEOUT_MS = 30_000;
const MAX_CAPTURE = 16 * 1024;

/** Where conmon puts a container's attach socket; check its length against MAX_SOCKET_PATH. */
export function attachSocketPath(socketDir: string, id: string): string {
  return join(socketDir, id, "attach");
}

function conmonLevel(level: string | undefined): string {
  switch (level) {
    case "trace":
    case "debug":
    case "info":
    case "error":
    case "fatal":
      return level;
    case "silent":
      return "error";
    default:
      return "warn";
  }
}

function conmonArgs(o: ConmonOptions): string[] {
  const b = o.bundlePath;
  const args = [
    "--api-version",
    "1",
    "-c",
    o.id,
    "-u",
    o.id,
    "-n",
    o.name !== "" ? o.name : o.id,
    "-r",
    o.runtime.binaryPath,
    "-b",
    b,
    "-p",
    join(b, "pidfile"),
    "--conmon-pidfile",
    join(b, "conmon.pid"),
    "--exit-dir",
    o.exitDir,
    "--persist-dir",
    o.persistDir,
    "-l",
    `k8s-file:${o.logPath}`,
    "--socket-dir-path",
    o.socketDir,
    "--log-level",
    conmonLevel(o.logLevel),
  ];
  if (o.restore) {
    args.push("--restore", o.restore.imagePath);
    for (const opt of o.restore.runtimeOpts) args.push("--runtime-opt", opt);
  }
  if (o.tty) args.push("-t");
  // With a tty conmon writes attach input to the terminal whatever -i says;
  // -i would only make it close the terminal's input for good when any one
  // attach client leaves (conn_sock.c), so a detach would end typing for all.
  if (o.stdin && !o.tty) args.push("-i");
  // The runtime's own log: its create error, even where its stderr went to a terminal.
  const runtimeArgs = [...o.runtime.globalArgs, "--log", join(b, "oci-log"), "--log-format", "json"];
  for (const a of runtimeArgs) args.push("--runtime-arg", a);
  return args;
}

/** Collects up to MAX_CAPTURE bytes of a stream's text. */
function capture(stream: Readable | null): () => string {
  let text = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    if (text.length < MAX_CAPTURE) text += chunk.slice(0, MAX_CAPTURE - text.length);
  });
  stream?.on("error", () => undefined);
  return () => text.trim();
}

interface SyncMessage {
  data: number;
  message?: string;
}

function parseSync(line: string): SyncMessage | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    if (typeof v !== "object" || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.data !== "number") return undefined;
    return { data: o.data, ...(typeof o.message === "string" ? { message: o.message } : {}) };
  } catch {
    return undefined;
  }
}

const O_CLOEXEC = 0o2000000;
// Beyond this a stray fd is left alone rather than growing the stdio table.
const MAX_STRAY_FD = 4096;

/**
 * Fds hulld inherited without close-on-exec (a service manager's or shell's
 * pipe, say), or that a native module failed to mark (attach.ts). Node opens
 * its own fds close-on-exec, but cannot mark these, and conmon would hold
 * them for the container's whole life. Read synchronously: /proc/self is
 * in memory and each read takes microseconds, while one libuv thread-pool
 * round trip per fd (~30 in hulld) cost 6–21 ms per container start on a
 * loaded 2-core host, on the start path of every container and exec.
 */
export function strayFds(): number[] {
  let names: string[];
  try {
    names = readdirSync("/proc/self/fd");
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 5 || fd > MAX_STRAY_FD) continue;
    let info = "";
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    } catch {
      // Closed between the listing and the read (readdir's own fd, for one): not stray.
      continue;
    }
    const m = /^flags:\s+([0-7]+)/m.exec(info);
    if (m?.[1] !== undefined && (parseInt(m[1], 8) & O_CLOEXEC) === 0) out.push(fd);
  }
  return out;
}

/**
 * stdio for a conmon child: ignored stdin, piped stdout/stderr, then `pipes`
 * more pipes (fd 3, 4, ...), with /dev/null over every stray inherited fd
 * (the stdio table dup2()s over it). Close devNull once the child is spawned.
 */
export async function conmonStdio(pipes: number): Promise<{ stdio: StdioOptions; devNull?: FileHandle }> {
  const stdio: StdioOptions = ["ignore", "pipe", "pipe", ...Array.from({ length: pipes }, () => "pipe" as const)];
  const stray = strayFds();
  if (stray.length === 0) return { stdio };
  const devNull = await open("/dev/null", "r");
  for (const fd of stray) {
    while (stdio.length < fd) stdio.push("ignore");
    stdio[fd] = devNull.fd;
  }
  return { stdio, devNull };
}

/** Resolves with the first line on the sync pipe, or undefined at EOF. */
function readSyncLine(stream: Readable): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    stream.on("end", () => resolve(buf.trim() !== "" ? buf.trim() : undefined));
    stream.on("close", () => resolve(buf.trim() !== "" ? buf.trim() : undefined));
    stream.on("error", () => resolve(undefined));
  });
}

/** The error-level messages of the runtime's JSON log (--log-format json). */
function errorLines(log: string): string[] {
  const out: string[] = [];
  for (const line of log.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const v = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (typeof v.msg === "string" && (v.level === "error" || v.level === "fatal" || v.level === "panic")) out.push(v.msg);
    } catch {
      out.push(line.trim());
    }
  }
  return out;
}

async function readText(path: string): Promise<string> {
  return readFile(path, "utf8").then(
    (t) => t.trim(),
    () => "",
  );
}

/**
 * Starts conmon for a bundle whose config.json is written; resolves once the
 * runtime container exists (state "created") with its pid and conmon's pid.
 */
export async function startConmon(opts: ConmonOptions): Promise<ConmonResult> {
  return inSpan("oci.create", { "hull.container.id": opts.id, "hull.runtime": opts.runtime.name }, () => runConmon(opts));
}

async function runConmon(opts: ConmonOptions): Promise<ConmonResult> {
  const binary = resolveBinary(opts.conmonBinary ?? "conmon", "conmon");
  const b = opts.bundlePath;
  const label = `${opts.runtime.name} ${opts.restore ? "restore" : "create"} ${opts.id}`;
  await Promise.all([
    mkdir(opts.exitDir, { recursive: true, mode: 0o700 }),
    mkdir(opts.persistDir, { recursive: true, mode: 0o700 }),
    mkdir(opts.socketDir, { recursive: true, mode: 0o700 }),
    mkdir(dirname(opts.logPath), { recursive: true, mode: 0o700 }),
  ]);
  // Files of an earlier run would be read as this run's answers.
  await Promise.all(["pidfile", "conmon.pid", "oci-log"].map((f) => rm(join(b, f), { force: true })));

  // fd 3 = sync pipe, fd 4 = start pipe; any stray inherited fd is shadowed
  // by /dev/null in the child (the stdio table dup2()s over it).
  const { stdio, devNull } = await conmonStdio(2);
  const child = spawn(binary, conmonArgs(opts), {
    stdio,
    // Its own session and process group: signals to hulld's group (Ctrl-C,
    // a service manager's stop) must not reach monitors or containers.
    detached: true,
    cwd: b, // conmon drops an "oom" marker in its cwd; keep it in the bundle
    // A minimal env: LISTEN_FDS or NOTIFY_SOCKET meant for hulld would
    // otherwise be acted on by conmon.
    env: {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      _OCI_SYNCPIPE: "3",
      _OCI_STARTPIPE: "4",
    },
  });
  // Every listener goes on before the first await: a conmon that dies at once
  // would otherwise exit unobserved.
  const stdout = capture(child.stdout);
  const stderr = capture(child.stderr);
  const syncStream = child.stdio[3] as Readable;
  const startStream = child.stdio[4] as Writable;
  startStream.on("error", () => undefined);
  const sync = readSyncLine(syncStream);
  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });

  await devNull?.close();

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), CREATE_TIMEOUT_MS);
  });

  const failure = async (what: string): Promise<HullError> => {
    const parts = [what];
    const ociLog = errorLines(await readText(join(b, "oci-log"))).filter((l) => !what.includes(l));
    if (ociLog.length > 0) parts.push(`runtime log: ${ociLog.join("; ")}`);
    const conmonOut = `${stderr()}\n${stdout()}`
      .split("\n")
      .map((l) => l.trim())
      // Printed on every run where hulld may not lower its OOM score: noise.
      .filter((l) => l !== "" && !l.includes("oom_score_adj"));
    if (conmonOut.length > 0) parts.push(`conmon: ${conmonOut.join("; ")}`);
    return new HullError("RUNTIME_ERROR", `${label}: ${parts.join("; ")}`, { runtime: opts.runtime.name, container: opts.id });
  };

  try {
    startStream.end("0");
    const first = await Promise.race([exited, timeout]);
    if (first === "timeout") {
      child.kill("SIGKILL");
      throw await failure(`conmon did not daemonize within ${CREATE_TIMEOUT_MS} ms`);
    }
    if (first.error) throw await failure(`cannot run ${binary}: ${first.error.message}`);
    if (first.code !== 0) throw await failure(`conmon exited with ${first.code ?? first.signal}`);

    const line = await Promise.race([sync, timeout]);
    if (line === "timeout") {
      await killConmon(b);
      throw await failure(`no answer from conmon within ${CREATE_TIMEOUT_MS} ms`);
    }
    const msg = line === undefined ? undefined : parseSync(line);
    if (msg === undefined) {
      throw await failure(line === undefined ? "conmon exited before the container was created" : `unexpected reply from conmon: ${line.slice(0, 200)}`);
    }
    if (msg.data <= 0) throw await failure(runtimeErrorText(msg.message ?? "") || `conmon reported ${msg.data}`);

    const conmonPid = Number(await readText(join(b, "conmon.pid")));
    if (!Number.isSafeInteger(conmonPid) || conmonPid <= 0) throw await failure("conmon wrote no pidfile");
    return { pid: msg.data, conmonPid };
  } finally {
    clearTimeout(timer);
    // Drop hull's ends now: conmon holds the sync pipe for its whole life.
    for (const s of [child.stdout, child.stderr, syncStream, startStream]) s?.destroy();
    child.unref();
  }
}

/** Ends a conmon stuck in create (the safety-net path only). */
async function killConmon(bundlePath: string): Promise<void> {
  const pid = Number(await readText(join(bundlePath, "conmon.pid")));
  if (!Number.isSafeInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
