// StopContainer (libpod's StopWithTimeout): the stop signal, SIGKILL when the
// timeout passes. The single RPC saves STOPPING and waits WITHOUT the lock,
// so Inspect, List, a second Stop or a Kill never queue behind it (podman
// #8501) and a later Stop(0) escalates at once (cri-o #8030). Batch runs the
// very same steps with its lock held throughout (libpod's `batched`).
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import { parseSignal } from "../domain/signals.js";
import { readExitFile } from "../oci/exits.js";
import type { Engine } from "../engine/engine.js";
import type { ExitWaiter } from "../engine/exit-waiter.js";
import { stopIntent, stopRemainingMs } from "../engine/intents.js";
import { vanished } from "./sync.js";
import { exitCleanupLocked, handleExit } from "./exit.js";

const S = ContainerState;
const SIGKILL = 9;
export const DEFAULT_STOP_TIMEOUT = 10;
/** How long a SIGKILLed process may take to be reaped before we call it stuck. */
export const KILL_GRACE_MS = 30_000;
/** How often a stop waiting after SIGKILL checks that the monitor is still there to write the exit file. */
const MONITOR_CHECK_MS = 1000;

/**
 * How a stop reaches the container's record between its steps: through the
 * lock (the RPC), or directly because the caller already holds it (Batch).
 */
interface Access {
  locked<T>(fn: (rec: ContainerRecord) => Promise<T>): Promise<T>;
  batched: boolean;
}

function viaLock(engine: Engine, id: string): Access {
  return { locked: (fn) => engine.withLock(id, "stop", fn), batched: false };
}

function lockHeld(engine: Engine, id: string): Access {
  return { locked: async (fn) => fn(await engine.sync(id)), batched: true };
}

/** Sends a signal, tolerating a process that exited just before. */
export async function signalProcess(engine: Engine, id: string, signal: number): Promise<void> {
  try {
    await engine.runtime.kill(id, signal, false);
  } catch (err) {
    if ((await readExitFile(engine.paths.exitDir, id)) !== undefined) return;
    const state = await engine.runtime.state(id);
    if (!state || state.status === "stopped") return;
    throw err;
  }
}

/**
 * Saves STOPPING (stopped by the user) and sends the stop signal, or SIGKILL
 * for a timeout of 0. Caller holds the lock and has checked the state.
 */
export async function beginStop(engine: Engine, rec: ContainerRecord, seconds: number): Promise<void> {
  // A created container's process is still runc's init: only SIGKILL ends it.
  const signal = seconds === 0 || rec.state === S.CONTAINER_STATE_CREATED ? SIGKILL : parseSignal(rec.config.stopSignal || "SIGTERM");
  // The intent says when SIGKILL is due, so a hulld restarted mid-stop keeps the deadline.
  const saved = await engine.saveWithIntent({ ...rec, state: S.CONTAINER_STATE_STOPPING, stoppedByUser: true }, stopIntent(signal === SIGKILL ? 0 : seconds));
  await engine.event("stop", saved, { signal: String(signal), timeout: String(seconds) });
  await signalProcess(engine, rec.id, signal);
  // A frozen process cannot act on a signal: thaw it so the stop can land
  // (runc thaws it itself for SIGKILL, and resuming then would fail).
  if (rec.state === S.CONTAINER_STATE_PAUSED && (await engine.runtime.state(rec.id))?.status === "paused") await engine.runtime.resume(rec.id);
}

/** A second stop with a shorter timeout moves the recorded SIGKILL deadline forward. */
async function keepEarlierKill(engine: Engine, id: string, seconds: number): Promise<void> {
  const current = stopRemainingMs(engine.store.getIntent(id));
  if (current !== undefined && current <= seconds * 1000) return;
  const intent = stopIntent(seconds);
  await engine.store.setIntent(id, { ...intent, startedAt: engine.store.getIntent(id)?.startedAt ?? intent.startedAt });
}

/** The stop's first step, under the lock: begin it, or escalate one already under way. Returns the seconds to wait. */
async function stopStep(engine: Engine, rec: ContainerRecord, timeoutSeconds: number | undefined): Promise<number> {
  checkOperation(rec.id, rec.state, "stop");
  const seconds = timeoutSeconds ?? rec.config.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT;
  if (rec.state === S.CONTAINER_STATE_STOPPING) {
    // Another stop already sent the stop signal; this one only escalates.
    if (seconds === 0) await signalProcess(engine, rec.id, SIGKILL);
    else await keepEarlierKill(engine, rec.id, seconds);
    return seconds;
  }
  await beginStop(engine, rec, seconds);
  return seconds;
}

/**
 * A STOPPING container whose monitor is gone (killed behind hulld's back)
 * gets no exit file. Once the runtime says its process is gone too, record
 * the exit as libpod does when no exit file comes: -1, with the reason, then
 * clean up. Returns whether the container is settled (no longer STOPPING).
 */
async function recordExitWithoutMonitor(engine: Engine, id: string, access: Access): Promise<boolean> {
  const rec = await access.locked(async (current) => {
    if (current.state !== S.CONTAINER_STATE_STOPPING) return current;
    if (current.conmonPid > 0 && (await engine.runtime.isAlive(current.conmonPid))) return undefined;
    const seen = await engine.runtime.state(id);
    if (seen && seen.status !== "stopped") return undefined;
    const reason = "its monitor (conmon) was gone, so nothing recorded the exit status";
    engine.log.warn({ container: id, runtimeStatus: seen?.status ?? "missing" }, `stopped container ${reason}`);
    const saved = await engine.save(vanished(current, reason));
    await engine.event("exit", saved, { exitCode: String(saved.exitCode), reason });
    // No exit file will wake the exit handler: do its work here.
    return access.batched ? exitCleanupLocked(engine, saved) : saved;
  });
  if (rec === undefined) return false;
  if (!access.batched && rec.state === S.CONTAINER_STATE_STOPPED) await handleExit(engine, id);
  return true;
}

/** Waits for the exit: SIGKILL once `seconds` pass, then the monitor's word or, without a monitor, the runtime's. */
async function awaitExit(engine: Engine, id: string, waiter: ExitWaiter, seconds: number, access: Access): Promise<void> {
  let code = await waiter.wait(seconds * 1000);
  if (code !== undefined) return;
  await access.locked(async (rec) => {
    if (rec.state === S.CONTAINER_STATE_STOPPING) await signalProcess(engine, id, SIGKILL);
  });
  const deadline = Date.now() + KILL_GRACE_MS;
  let settledWithoutMonitor = false;
  while (code === undefined && !settledWithoutMonitor && Date.now() < deadline) {
    code = await waiter.wait(Math.min(MONITOR_CHECK_MS, deadline - Date.now()));
    if (code === undefined) settledWithoutMonitor = await recordExitWithoutMonitor(engine, id, access);
  }
  if (code === undefined && !settledWithoutMonitor) {
    throw new HullError("INTERNAL", `container ${id.slice(0, 12)} did not exit ${KILL_GRACE_MS / 1000}s after SIGKILL`, { container: id });
  }
}

/** StopContainer: the lock is held only for each step, never while waiting. */
export async function stopContainer(engine: Engine, ref: string, timeoutSeconds?: number): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  // Subscribed under the lock, after the sync and before the signal: an
  // earlier run's exit file (one a start has since replaced while this call
  // waited for the lock) can never be taken for this run's exit.
  const started = await engine.withLock(id, "stop", async (rec) => {
    const waiter = engine.exitWaiter(id);
    try {
      return { waiter, seconds: await stopStep(engine, rec, timeoutSeconds) };
    } catch (err) {
      waiter.cancel();
      throw err;
    }
  });
  try {
    await awaitExit(engine, id, started.waiter, started.seconds, viaLock(engine, id));
  } finally {
    started.waiter.cancel();
  }
  // The sync under the lock records the exit if the exit handler has not yet.
  return engine.withLock(id, "stop", async (rec) => rec);
}

/** The same stop for a caller that holds the lock throughout (Batch). */
export async function stopLocked(engine: Engine, rec: ContainerRecord, timeoutSeconds?: number): Promise<ContainerRecord> {
  const waiter = engine.exitWaiter(rec.id);
  try {
    const seconds = await stopStep(engine, rec, timeoutSeconds);
    await awaitExit(engine, rec.id, waiter, seconds, lockHeld(engine, rec.id));
  } finally {
    waiter.cancel();
  }
  return engine.sync(rec.id);
}

/** Stops, treating "it already exited by itself" as done (restart and remove want it stopped, not a refusal). */
export async function ensureStopped(engine: Engine, id: string, timeoutSeconds?: number): Promise<void> {
  try {
    await stopContainer(engine, id, timeoutSeconds);
  } catch (err) {
    if (!(err instanceof HullError && err.reason === "CONTAINER_ALREADY_STOPPED")) throw err;
  }
}
