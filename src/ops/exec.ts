// Exec sessions: processes run in a running container (the seed's exec
// sessions). Each is recorded in the container's record under its lock when it
// starts, marked ended with its exit code when it ends, and pruned to the last
// few ended ones. While one is alive, Cleanup refuses (operations.ts); when the
// container dies, its exec processes die with its pid namespace and their
// records are ended before the exit handler cleans the container up.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { TerminalSize } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import { ContainerState, type ContainerRecord, type ExecSessionRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import { resolveUser } from "../oci/hostinfo.js";
import { generateExecProcess } from "../oci/spec.js";
import { execStateRefusal } from "../oci/exec-failure.js";
import type { ExecExit, ExecProcess, OutputStreamName } from "../oci/runtime.js";
import type { Engine } from "../engine/engine.js";

const S = ContainerState;

/** Ended sessions kept in the record (running ones are always kept). */
export const KEEP_ENDED_SESSIONS = 10;
/** Bounds each session's own log (conmon rotates it): output no client received, e.g. after a detach. */
const SESSION_LOG_MAX = 16 * 1024 * 1024;

export interface ExecRequest {
  command: string[];
  env: string[];
  workingDir: string;
  user: string;
  tty: boolean;
  stdin: boolean;
  size?: TerminalSize;
  /** 0 = none. */
  timeoutSeconds: number;
}

export interface ExecSession {
  id: string;
  containerId: string;
  process: ExecProcess;
  /** Resolves once the exit is in the container's record (and exec_exit emitted). */
  finished: Promise<ExecExit>;
}

export function sessionDir(engine: Engine, containerId: string, sessionId: string): string {
  return join(engine.bundlePath(containerId), "exec", sessionId);
}

/** Keeps every running session and the last KEEP_ENDED_SESSIONS ended ones; returns [kept, dropped]. */
export function pruneSessions(sessions: ExecSessionRecord[]): [ExecSessionRecord[], ExecSessionRecord[]] {
  const ended = sessions.filter((s) => !s.running);
  const drop = new Set(ended.slice(0, Math.max(0, ended.length - KEEP_ENDED_SESSIONS)).map((s) => s.id));
  return [sessions.filter((s) => !drop.has(s.id)), sessions.filter((s) => drop.has(s.id))];
}

async function removeDropped(engine: Engine, containerId: string, dropped: ExecSessionRecord[]): Promise<void> {
  for (const s of dropped) {
    await engine.runtime
      .removeExecFiles(s.id, sessionDir(engine, containerId, s.id))
      .catch((err: unknown) => engine.log.warn({ err, container: containerId, exec: s.id }, "removing an ended exec session's files"));
  }
}

/** Marks sessions ended under the container's lock; emits exec_exit for each. */
async function endSessionsLocked(engine: Engine, rec: ContainerRecord, codes: Map<string, number>): Promise<ContainerRecord> {
  const ending = rec.execSessions.filter((s) => s.running && codes.has(s.id));
  if (ending.length === 0) return rec;
  const updated = rec.execSessions.map((s) => (s.running && codes.has(s.id) ? { ...s, running: false, exitCode: codes.get(s.id) ?? -1, pid: 0 } : s));
  const [kept, dropped] = pruneSessions(updated);
  const saved = await engine.save({ ...rec, execSessions: kept });
  for (const s of ending) await engine.event("exec_exit", saved, { execId: s.id, exitCode: String(codes.get(s.id) ?? -1) });
  await removeDropped(engine, rec.id, dropped);
  return saved;
}

/** Records one session's exit; a container removed meanwhile is no error. */
async function recordExecExit(engine: Engine, containerId: string, sessionId: string, code: number): Promise<void> {
  try {
    await engine.withLock(containerId, "exec", (rec) => endSessionsLocked(engine, rec, new Map([[sessionId, code]])));
  } catch (err) {
    if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return;
    engine.log.error({ err, container: containerId, exec: sessionId }, "recording an exec session's exit");
  }
}

/**
 * Starts an exec session in a running container (checkOperation "exec"), with
 * its output connected before the process runs so no output is lost. The
 * state check happens under the container's lock; the start itself does not
 * hold it, so a slow or stuck monitor never blocks other calls on the
 * container (Podman's exec does not hold the container lock while it starts
 * the process either). The caller validated the request's fields.
 */
export async function startExec(engine: Engine, ref: string, req: ExecRequest, output: (stream: OutputStreamName, data: Buffer) => void): Promise<ExecSession> {
  const sessionId = randomBytes(16).toString("hex");
  let startDone: () => void = () => undefined;
  const starting = new Promise<void>((resolve) => (startDone = resolve));
  const { rec, process } = await engine.locked(ref, "exec", async (current) => {
    checkOperation(current.id, current.state, "exec");
    const user = await resolveUser(current.rootfs, req.user !== "" ? req.user : current.config.user);
    const process = generateExecProcess({
      id: current.id,
      config: current.config,
      user,
      hostLimits: engine.hostLimits,
      command: req.command,
      env: req.env,
      workingDir: req.workingDir,
      tty: req.tty,
      consoleSize: req.size,
    });
    // Counted before the lock goes: the exit handler waits for a start in flight.
    engine.execs.track(current.id, starting);
    return { rec: current, process };
  });
  try {
    const dir = sessionDir(engine, rec.id, sessionId);
    const proc = await engine.runtime
      .exec({
        containerId: rec.id,
        containerName: rec.name,
        sessionId,
        sessionDir: dir,
        process,
        stdin: req.stdin,
        timeoutSeconds: req.timeoutSeconds,
        logMaxSizeBytes: SESSION_LOG_MAX,
        output,
      })
      .catch(async (err: unknown) => {
        await engine.runtime.removeExecFiles(sessionId, dir).catch(() => undefined);
        // The process may have exited, or a Pause frozen it, after the check above: a refusal, not a runtime failure.
        // A different init pid: it exited and was started again meanwhile, so the process checked is gone too.
        // runc's own refusal names the state it saw; trusted over a later look, which a Pause and Unpause in between would hide.
        const refusedAs = err instanceof Error ? execStateRefusal(err.message) : undefined;
        const now = await engine.runtime.state(rec.id).catch(() => undefined);
        const restarted = now !== undefined && rec.pid > 0 && now.pid !== rec.pid;
        if (refusedAs !== undefined || now?.status !== "running" || restarted) {
          const why = restarted
            ? "it was stopped and started again meanwhile"
            : refusedAs === "paused" || now?.status === "paused"
              ? "it was paused meanwhile"
              : "its process has exited";
          throw new HullError(
            "CONTAINER_STATE_INVALID",
            `cannot exec in container ${rec.id.slice(0, 12)}: ${why} (runtime status ${now?.status ?? "missing"})`,
            {
              container: rec.id,
              operation: "exec",
            },
            { cause: err },
          );
        }
        throw err;
      });
    await engine
      .withLock(rec.id, "exec", async (current) => {
        // The container may have begun to stop (or exited) while the process
        // started without the lock: then the state table refuses the exec, and
        // the process is ended below rather than recorded in such a state.
        checkOperation(current.id, current.state, "exec");
        const session: ExecSessionRecord = { id: sessionId, command: [...req.command], running: true, exitCode: 0, pid: proc.pid };
        const [kept, dropped] = pruneSessions([...current.execSessions, session]);
        const saved = await engine.save({ ...current, execSessions: kept });
        await engine.event("exec_start", saved, { execId: sessionId, command: req.command.join(" ").slice(0, 256) });
        await removeDropped(engine, current.id, dropped);
      })
      .catch((err: unknown) => {
        // Unrecorded, it would block nothing and be seen by no one: end it.
        proc.kill();
        throw err;
      });
    // Never rejects: whatever happened, the session ends in the record.
    const finished = proc.done.then(
      async (exit) => {
        await recordExecExit(engine, rec.id, sessionId, exit.code);
        return exit;
      },
      async (err: unknown): Promise<ExecExit> => {
        engine.log.error({ err, container: rec.id, exec: sessionId }, "waiting for an exec session's exit");
        await recordExecExit(engine, rec.id, sessionId, -1);
        return { code: -1, timedOut: false, message: err instanceof Error ? err.message : String(err) };
      },
    );
    engine.execs.track(rec.id, finished);
    return { id: sessionId, containerId: rec.id, process: proc, finished };
  } finally {
    startDone();
  }
}

/** Resizes a session's terminal; once its process is gone its monitor's FIFO is too, and there is nothing left to resize. */
export async function resizeExecSession(proc: ExecProcess, height: number, width: number): Promise<void> {
  try {
    await proc.resize(height, width);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENXIO" && code !== "ENOENT") throw err;
  }
}

/** The client's end of input: a terminal's stdin is the pty itself, which stays open, so ^D is how a terminal says it. */
export async function endExecInput(proc: ExecProcess, tty: boolean): Promise<void> {
  if (tty) await proc.writeStdin(Buffer.from([4]));
  proc.closeStdin();
}

/**
 * Ends every session still recorded as running in a container whose process
 * is gone (its exec processes died with its pid namespace): with the status
 * conmon wrote, or -1 when there is none. Caller holds the lock.
 */
export async function endExecSessionsLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  const codes = new Map<string, number>();
  for (const s of rec.execSessions.filter((x) => x.running)) {
    const code = await engine.runtime.execExitCode(rec.id, sessionDir(engine, rec.id, s.id)).catch(() => undefined);
    codes.set(s.id, code ?? -1);
  }
  return endSessionsLocked(engine, rec, codes);
}

/**
 * At hulld start: sessions recorded as running are ended when their exit file
 * is there or their monitor is gone, and watched again otherwise.
 */
export async function recoverExecSessions(engine: Engine, id: string): Promise<void> {
  await engine.withLock(id, "recover", async (rec) => {
    const running = rec.execSessions.filter((s) => s.running);
    if (running.length === 0) return;
    const containerLive = rec.state === S.CONTAINER_STATE_RUNNING || rec.state === S.CONTAINER_STATE_PAUSED || rec.state === S.CONTAINER_STATE_STOPPING;
    const codes = new Map<string, number>();
    for (const s of running) {
      const dir = sessionDir(engine, rec.id, s.id);
      const code = await engine.runtime.execExitCode(rec.id, dir).catch(() => undefined);
      if (code !== undefined) codes.set(s.id, code);
      else if (!containerLive) codes.set(s.id, -1);
      else await rewatch(engine, rec.id, s.id, dir, codes);
    }
    await endSessionsLocked(engine, rec, codes);
  });
}

async function rewatch(engine: Engine, containerId: string, sessionId: string, dir: string, codes: Map<string, number>): Promise<void> {
  const w = await engine.runtime.rewatchExec(containerId, dir);
  if (w === undefined) {
    codes.set(sessionId, -1);
    return;
  }
  const finished = w.exited
    .then((code) => recordExecExit(engine, containerId, sessionId, code))
    .catch((err: unknown) => engine.log.error({ err, container: containerId, exec: sessionId }, "watching an exec session's exit"))
    .finally(() => w.close());
  engine.execs.track(containerId, finished);
}
