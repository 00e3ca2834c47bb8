// Running a process in a running container through conmon 2.1.6's exec mode
// (src/cli.c, conmon.c, runtime_args.c in containers/conmon). conmon runs
// `RUNTIME exec --pid-file P --process SPEC --detach [--tty] CID`, owns the
// process's stdio like a container's, and writes its exit status to
// --exit-dir/<CID>: each session gets its own exit dir so the container's
// ExitWatcher never sees an exec's exit.
//
// Handshake with --api-version 1 --exec-attach (the order matters):
// 1. one byte on _OCI_STARTPIPE: the first conmon reads it, double-forks and
//    exits 0;
// 2. the monitor binds <socket-dir>/<cuuid>/attach (<cuuid> links to -b, the
//    session dir) and its ctl FIFO, then writes {"data": 0} on _OCI_ATTACHPIPE;
// 3. hulld connects to the attach socket, then writes a second start byte: the
//    runtime child waited for it, so no output is written before we listen;
// 4. _OCI_SYNCPIPE gets {"data": pid} (or {"data": <=0, "message": stderr}
//    when the runtime failed), and at the end {"data": status[, "message"]}:
//    with --timeout conmon SIGKILLs the process group and reports -1,
//    "command timed out" (config.h TIMED_OUT_MESSAGE).
// conmon closes attach clients before it writes the exit file, so once both
// the exit file and the socket's end have been seen, all output is delivered.
import { spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { HullError } from "../errors.js";
import { AttachConnection, writeResize } from "./attach.js";
import type { ExecExit, ExecProcess, OutputStreamName } from "./runtime.js";

export type { ExecExit, ExecProcess };
import { commandFailureCode, ExecCommandError, runtimeLogError } from "./exec-failure.js";
import { attachSocketPath, conmonStdio, MAX_SOCKET_PATH } from "./conmon.js";
import { ExitWatcher, readExitFile } from "./exits.js";
import { resolveBinary, runtimeErrorText, type RuntimeCli } from "./runtime-cli.js";
import type { OciProcess } from "./spec.js";
import { capture, LineReader, parseSync, withTimeout } from "./exec-pipes.js";

export const TIMED_OUT_MESSAGE = "command timed out";

// A safety net only: each step of the handshake answers at once.
const START_TIMEOUT_MS = 30_000;
// conmon writes its final sync message right after the exit file.
const SYNC_GRACE_MS = 5_000;

export interface ExecPaths {
  dir: string;
  spec: string;
  pidFile: string;
  conmonPidFile: string;
  /** conmon's --exit-dir for this session: holds one file named after the container id. */
  exitDir: string;
  log: string;
  ociLog: string;
}

export function execPaths(sessionDir: string): ExecPaths {
  return {
    dir: sessionDir,
    spec: join(sessionDir, "process.json"),
    pidFile: join(sessionDir, "pid"),
    conmonPidFile: join(sessionDir, "conmon.pid"),
    exitDir: join(sessionDir, "exit"),
    log: join(sessionDir, "log"),
    ociLog: join(sessionDir, "oci-log"),
  };
}

export interface ExecStartOptions {
  containerId: string;
  containerName: string;
  /** conmon's -u: names the attach socket's dir under socketDir, so keep it short. */
  sessionId: string;
  sessionDir: string;
  runtime: RuntimeCli;
  process: OciProcess;
  stdin: boolean;
  /** 0 = none. */
  timeoutSeconds: number;
  socketDir: string;
  /** Bounds the session's own k8s-file log (output that reached no client, e.g. after a detach). */
  logMaxSizeBytes: number;
  conmonBinary?: string;
  /** Called for each chunk of output, from the moment the process starts. */
  output(stream: OutputStreamName, data: Buffer): void;
}

function conmonArgs(o: ExecStartOptions, p: ExecPaths): string[] {
  const args = [
    "--api-version",
    "1",
    "-c",
    o.containerId,
    "-u",
    o.sessionId,
    "-n",
    o.containerName !== "" ? o.containerName : o.containerId,
    "-r",
    o.runtime.binaryPath,
    "-b",
    p.dir,
    "-p",
    p.pidFile,
    "--conmon-pidfile",
    p.conmonPidFile,
    "--exit-dir",
    p.exitDir,
    "-l",
    `k8s-file:${p.log}`,
    "--socket-dir-path",
    o.socketDir,
    "--exec",
    "--exec-process-spec",
    p.spec,
    "--exec-attach",
    "--log-level",
    "warn",
  ];
  if (o.logMaxSizeBytes > 0) args.push("--log-size-max", String(o.logMaxSizeBytes));
  if (o.process.terminal === true) args.push("-t");
  if (o.stdin) args.push("-i");
  if (o.timeoutSeconds > 0) args.push("--timeout", String(o.timeoutSeconds));
  for (const a of [...o.runtime.globalArgs, "--log", p.ociLog, "--log-format", "json"]) args.push("--runtime-arg", a);
  return args;
}

async function readPid(path: string): Promise<number> {
  const n = Number((await readFile(path, "utf8").catch(() => "")).trim());
  return Number.isSafeInteger(n) && n > 1 ? n : 0;
}

function killGroup(pid: number): void {
  if (pid <= 1) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Resolves with the exit status once conmon writes <exitDir>/<containerId>; fs.watch, no polling. */
export function watchExecExit(exitDir: string, containerId: string): { exited: Promise<number>; close(): void } {
  const watcher = new ExitWatcher(exitDir);
  let settle: (code: number) => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const exited = new Promise<number>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  watcher.on("exit", (name, code) => {
    if (name === containerId) settle(code);
  });
  watcher.on("error", (err) => fail(err));
  // Callers that stopped waiting (a failed start) must not leave the rejection unhandled.
  exited.catch(() => undefined);
  // Watch first, then look: an exit between the two is never missed.
  void watcher.start().then(
    () => readExitFile(exitDir, containerId).then((code) => code !== undefined && settle(code)),
    (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
  );
  return { exited, close: () => watcher.stop() };
}

/** Starts the exec; resolves once the process runs, with the attach socket already connected. */
export async function startExecProcess(opts: ExecStartOptions): Promise<ExecProcess> {
  const p = execPaths(opts.sessionDir);
  const socketPath = attachSocketPath(opts.socketDir, opts.sessionId);
  const meta = { container: opts.containerId, exec: opts.sessionId };
  const label = `${opts.runtime.name} exec in container ${opts.containerId.slice(0, 12)}`;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new HullError("INTERNAL", `${label}: attach socket path ${socketPath} exceeds ${MAX_SOCKET_PATH} bytes; use a shorter run root`, meta);
  }
  const binary = resolveBinary(opts.conmonBinary ?? "conmon", "conmon");
  await mkdir(p.exitDir, { recursive: true, mode: 0o700 });
  await writeFile(p.spec, JSON.stringify(opts.process), { mode: 0o600 });

  // fd 3 sync, fd 4 start, fd 5 attach; stray inherited fds are shadowed by /dev/null (see conmon.ts).
  const { stdio, devNull } = await conmonStdio(3);
  const child = spawn(binary, conmonArgs(opts, p), {
    stdio,
    detached: true,
    cwd: p.dir,
    env: {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      _OCI_SYNCPIPE: "3",
      _OCI_STARTPIPE: "4",
      _OCI_ATTACHPIPE: "5",
    },
  });
  const stdout = capture(child.stdout);
  const stderr = capture(child.stderr);
  // The typings know five stdio slots; the sixth exists all the same.
  const pipes = child.stdio as unknown as (Readable | Writable | null)[];
  const syncStream = pipes[3] as Readable;
  const attachStream = pipes[5] as Readable;
  const sync = new LineReader(syncStream);
  const attachPipe = new LineReader(attachStream);
  const start = pipes[4] as Writable;
  start.on("error", () => undefined);
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("exit", (code) => resolve({ code }));
  });
  await devNull?.close();

  let conn: AttachConnection | undefined;
  let outputEnded: () => void = () => undefined;
  const outputDone = new Promise<void>((resolve) => (outputEnded = resolve));
  const exitWatch = watchExecExit(p.exitDir, opts.containerId);
  // Only the sync pipe: the others are done with once the process runs.
  const closeHandshake = (): void => {
    for (const s of [child.stdout, child.stderr, start, attachStream]) s?.destroy();
    child.unref();
  };
  const failure = async (what: string): Promise<HullError> => {
    const extra = [stderr(), stdout()].filter((s) => s !== "");
    const ociLog = runtimeErrorText(await readFile(p.ociLog, "utf8").catch(() => ""));
    const text = [what, ...(ociLog !== "" && !what.includes(ociLog) ? [`runtime log: ${ociLog}`] : []), ...extra.map((e) => `conmon: ${e}`)].join("; ");
    return new HullError("RUNTIME_ERROR", `${label}: ${text}`, meta);
  };

  try {
    start.write("0");
    const first = await withTimeout(exited, START_TIMEOUT_MS);
    if (first === "timeout") {
      child.kill("SIGKILL");
      throw await failure(`conmon did not daemonize within ${START_TIMEOUT_MS} ms`);
    }
    if (first.error) throw await failure(`cannot run ${binary}: ${first.error.message}`);
    if (first.code !== 0) throw await failure(`conmon exited with ${String(first.code)}`);

    const ready = await withTimeout(attachPipe.next(), START_TIMEOUT_MS);
    if (ready === "timeout") throw await failure(`conmon did not open the attach socket within ${START_TIMEOUT_MS} ms`);
    if (parseSync(ready)?.data !== 0)
      throw await failure(
        ready === undefined ? "conmon exited before opening the attach socket" : `unexpected attach message from conmon: ${ready.slice(0, 200)}`,
      );

    conn = await AttachConnection.connect(socketPath, {
      output: (stream, data) => opts.output(stream, data),
      end: () => outputEnded(),
      error: () => outputEnded(),
    });
    start.end("1");

    const line = await withTimeout(sync.next(), START_TIMEOUT_MS);
    const runtimeLog = async (): Promise<string> => runtimeLogError(await readFile(p.ociLog, "utf8").catch(() => ""));
    if (line === "timeout") {
      // conmon reads the runtime's stderr only once the runtime has exited, so
      // a runtime whose error fills the pipe (64 KiB) waits on conmon forever.
      // Its log says why all the same.
      const logged = await runtimeLog();
      const code = commandFailureCode(logged);
      if (code !== undefined) throw new ExecCommandError(code, `${label}: ${logged}`, meta);
      throw await failure(`no answer from conmon within ${START_TIMEOUT_MS} ms`);
    }
    const msg = parseSync(line);
    if (msg === undefined)
      throw await failure(line === undefined ? "conmon exited before the process started" : `unexpected reply from conmon: ${line.slice(0, 200)}`);
    if (msg.data <= 0) {
      // What conmon relays is the runtime's stderr cut at 8191 bytes; the log has it whole.
      const relayed = runtimeErrorText(msg.message);
      const logged = await runtimeLog();
      const text = logged !== "" ? logged : relayed !== "" ? relayed : `conmon reported ${msg.data}`;
      const code = commandFailureCode(logged) ?? commandFailureCode(relayed);
      if (code !== undefined) throw new ExecCommandError(code, `${label}: ${text}`, meta);
      throw await failure(text);
    }
    const pid = msg.data;
    const conmonPid = await readPid(p.conmonPidFile);
    closeHandshake();
    const connection = conn;

    // The exit file is the record; the sync pipe's end covers a conmon that died without one.
    const fromSync = (): Promise<number> => sync.closed.then(async () => (await readExitFile(p.exitDir, opts.containerId)) ?? -1);
    const code = Promise.race([exitWatch.exited.catch(fromSync), fromSync()]);
    let finished = false;
    const done = (async (): Promise<ExecExit> => {
      try {
        const status = await code;
        const last = await withTimeout(sync.next(), SYNC_GRACE_MS);
        const message =
          last === "timeout" || last === undefined ? (status === -1 ? "conmon exited without an exit status" : "") : (parseSync(last)?.message ?? "");
        await outputDone;
        return { code: status, timedOut: status === -1 && message === TIMED_OUT_MESSAGE, message };
      } finally {
        finished = true;
        exitWatch.close();
        syncStream.destroy();
        connection.close();
      }
    })();
    return {
      pid,
      conmonPid,
      done,
      writeStdin: (data) => connection.writeStdin(data),
      closeStdin: () => connection.closeStdin(),
      resize: (height, width) => writeResize(p.dir, height, width),
      kill: () => {
        if (!finished) killGroup(pid);
      },
      detach: () => {
        connection.close();
        outputEnded();
      },
    };
  } catch (err) {
    exitWatch.close();
    conn?.close();
    closeHandshake();
    syncStream.destroy();
    // A monitor left waiting on the start pipe would otherwise linger.
    killGroup(await readPid(p.pidFile));
    const conmonPid = await readPid(p.conmonPidFile);
    if (conmonPid > 0) killGroup(conmonPid);
    throw err;
  }
}

/** Removes a finished session's files (and conmon's socket link, which a killed conmon leaves behind). */
export async function removeExecFiles(sessionDir: string, socketDir: string, sessionId: string): Promise<void> {
  await rm(join(socketDir, sessionId), { force: true });
  await rm(sessionDir, { recursive: true, force: true });
}
