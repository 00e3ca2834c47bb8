// ExecSync (hull.v1's and the CRI's): a command run to completion in a
// running container, its output collected up to MAX_SYNC_OUTPUT bytes per
// stream (the rest is dropped, so a chatty command cannot exhaust hulld),
// its timeout conmon's --timeout (exit code -1 and "command timed out" on
// stderr, as CRI-O answers). A caller that gives up takes the command down.
import { access } from "node:fs/promises";
import type { Engine } from "../engine/engine.js";
import { TIMED_OUT_MESSAGE } from "../oci/exec.js";
import { ExecCommandError } from "../oci/exec-failure.js";
import { startExec, type ExecRequest } from "./exec.js";

export const MAX_SYNC_OUTPUT = 16 * 1024 * 1024;

/** Collects up to MAX_SYNC_OUTPUT bytes, dropping the rest. */
class Capped {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  add(data: Buffer): void {
    const room = MAX_SYNC_OUTPUT - this.size;
    if (room <= 0) return;
    const part = data.length > room ? data.subarray(0, room) : data;
    this.chunks.push(Buffer.from(part));
    this.size += part.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  /** The session's id, once it started ("" when the command could not be run). */
  sessionId: string;
}

/** How long a new ExecSync waits for the commands of abandoned ones to be killed. */
const ABANDONED_WAIT_MS = 5000;
/** How long a killed command's process may take to be reaped before the answer goes out anyway. */
const REAP_WAIT_MS = 2000;
const REAP_POLL_MS = 10;

/**
 * Resolves once the host pid is gone from /proc, or after REAP_WAIT_MS.
 * conmon reports a timeout as soon as it has sent SIGKILL; the command (in
 * the container's PID namespace, reparented to its init once runc is
 * killed) is a zombie until that init reaps it, and pgrep still lists a
 * zombie: the caller that looks right after the timeout, as critest and
 * the kubelet's probes do, must not find it.
 */
async function untilReaped(pid: number): Promise<void> {
  if (pid <= 0) return;
  const deadline = Date.now() + REAP_WAIT_MS;
  while (Date.now() < deadline) {
    const alive = await access(`/proc/${pid}`).then(
      () => true,
      () => false,
    );
    if (!alive) return;
    await new Promise((resolve) => setTimeout(resolve, REAP_POLL_MS));
  }
}

/**
 * Commands whose caller gave up (deadline, cancel) but that are still being
 * killed, per container: the next ExecSync on that container starts only once
 * they are gone, so a caller that timed out and looks again never sees its
 * own command still running (critest's "execSync with timeout"; the kubelet's
 * probes are the same pattern).
 */
const abandoned = new Map<string, Set<Promise<unknown>>>();

function abandon(containerId: string, dying: Promise<unknown>): void {
  const set = abandoned.get(containerId) ?? new Set<Promise<unknown>>();
  abandoned.set(containerId, set);
  const tracked = dying
    .catch(() => undefined)
    .finally(() => {
      set.delete(tracked);
      if (set.size === 0) abandoned.delete(containerId);
    });
  set.add(tracked);
}

async function settleAbandoned(containerId: string): Promise<void> {
  const set = abandoned.get(containerId);
  if (set === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled([...set]), new Promise((resolve) => (timer = setTimeout(resolve, ABANDONED_WAIT_MS)))]);
  clearTimeout(timer);
}

export async function execSyncContainer(engine: Engine, ref: string, request: ExecRequest, signal: AbortSignal): Promise<ExecSyncResult> {
  const out = new Capped();
  const err = new Capped();
  const containerId = await engine.resolve(ref);
  await settleAbandoned(containerId);
  let session: Awaited<ReturnType<typeof startExec>>;
  const starting = startExec(engine, containerId, request, (stream, data) => (stream === "stdout" ? out : err).add(data));
  // Given up while the command was still starting: it is killed as soon as it runs, and counted until it is gone.
  const onEarlyAbort = (): void =>
    abandon(
      containerId,
      starting.then(async (s) => {
        s.process.kill();
        await s.finished;
        await untilReaped(s.process.pid);
      }),
    );
  signal.addEventListener("abort", onEarlyAbort, { once: true });
  try {
    session = await starting;
  } catch (e) {
    // A command that is missing or not executable: Podman's 127/126 with the runtime's words.
    if (e instanceof ExecCommandError) return { exitCode: e.exitCode, stdout: Buffer.alloc(0), stderr: Buffer.from(`${e.message}\n`), sessionId: "" };
    throw e;
  } finally {
    signal.removeEventListener("abort", onEarlyAbort);
  }
  const onAbort = (): void => {
    session.process.kill();
    abandon(
      containerId,
      session.finished.then(() => untilReaped(session.process.pid)),
    );
  };
  signal.addEventListener("abort", onAbort);
  if (signal.aborted) onAbort();
  try {
    const exit = await session.finished;
    if (exit.timedOut) {
      await untilReaped(session.process.pid);
      const soFar = err.bytes();
      const sep = soFar.length > 0 && soFar[soFar.length - 1] !== 0x0a ? "\n" : "";
      return { exitCode: -1, stdout: out.bytes(), stderr: Buffer.concat([soFar, Buffer.from(`${sep}${TIMED_OUT_MESSAGE}`)]), sessionId: session.id };
    }
    return { exitCode: exit.code, stdout: out.bytes(), stderr: err.bytes(), sessionId: session.id };
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
