// Stop, restart and remove: the operations that wait for a process to exit.
// The wait happens without the container's lock (state STOPPING is saved
// first), so Inspect, List and a second Stop or a Kill never queue behind
// it, and a later Stop with a shorter timeout escalates at once.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import { parseSignal } from "../domain/signals.js";
import { readExitFile, removeExitFile } from "../oci/exits.js";
import type { Engine } from "../engine/engine.js";
import { unmountImageRootfs } from "../images/overlay.js";
import { exportsReading } from "./rootfs.js";
import { startLocked } from "./operations.js";
import { removeIntent, saveWithIntent, stopIntent, stopRemainingMs } from "../engine/intents.js";
import { isAlive } from "../recovery/repair.js";
import { vanished } from "./sync.js";
import { handleExit } from "./exit.js";

const S = ContainerState;
const SIGKILL = 9;
export const DEFAULT_STOP_TIMEOUT = 10;
/** How long a SIGKILLed process may take to be reaped before we call it stuck. */
export const KILL_GRACE_MS = 30_000;

/** How often a stop waiting after SIGKILL checks that conmon is still there to write the exit file. */
const MONITOR_CHECK_MS = 1000;

export interface ExitWaiter {
  /** Resolves with the exit code, or undefined after ms. */
  wait(ms: number): Promise<number | undefined>;
  cancel(): void;
}

/**
 * Subscribes to the exit watcher for one container, then checks the exit
 * file, so an exit between the two is never missed (containerd #6080).
 */
export function exitWaiter(engine: Engine, id: string): ExitWaiter {
  let settle: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    settle = resolve;
  });
  const onExit = (exitId: string, code: number): void => {
    if (exitId === id) settle(code);
  };
  engine.deps.exits.on("exit", onExit);
  void readExitFile(engine.deps.paths.exitDir, id).then(
    (code) => {
      if (code !== undefined) settle(code);
    },
    (err: unknown) => engine.deps.log.error({ err, container: id }, "reading the exit file"),
  );
  return {
    async wait(ms: number) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel() {
      engine.deps.exits.off("exit", onExit);
    },
  };
}

/** Sends a signal, tolerating a process that exited just before. */
async function signalProcess(engine: Engine, id: string, signal: number): Promise<void> {
  try {
    await engine.runtime.kill(id, signal, false);
  } catch (err) {
    if ((await readExitFile(engine.deps.paths.exitDir, id)) !== undefined) return;
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
  const saved = await saveWithIntent(engine, { ...rec, state: S.CONTAINER_STATE_STOPPING, stoppedByUser: true }, stopIntent(signal === SIGKILL ? 0 : seconds));
  await engine.event("stop", saved, { signal: String(signal), timeout: String(seconds) });
  await signalProcess(engine, rec.id, signal);
  // A frozen process cannot act on a signal: thaw it so the stop can land
  // (runc thaws it itself for SIGKILL, and resuming then would fail).
  if (rec.state === S.CONTAINER_STATE_PAUSED && (await engine.runtime.state(rec.id))?.status === "paused") await engine.runtime.resume(rec.id);
}

/** Sends SIGKILL to a container whose stop timed out. */
export function escalateStop(engine: Engine, id: string): Promise<void> {
  return signalProcess(engine, id, SIGKILL);
}

/** A second stop with a shorter timeout moves the recorded SIGKILL deadline forward. */
async function keepEarlierKill(engine: Engine, id: string, seconds: number): Promise<void> {
  const current = stopRemainingMs(engine.store.getIntent(id));
  if (current !== undefined && current <= seconds * 1000) return;
  const intent = stopIntent(seconds);
  await engine.store.setIntent(id, { ...intent, startedAt: engine.store.getIntent(id)?.startedAt ?? intent.startedAt });
}

/** The seed's StopWithTimeout. */
export async function stopContainer(engine: Engine, ref: string, timeoutSeconds?: number): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  const waiter = exitWaiter(engine, id);
  try {
    const timeout = await engine.withLock(id, "stop", async (rec) => {
      checkOperation(rec.id, rec.state, "stop");
      const seconds = timeoutSeconds ?? rec.config.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT;
      if (rec.state === S.CONTAINER_STATE_STOPPING) {
        // Another stop already sent the stop signal; this one only escalates.
        if (seconds === 0) await signalProcess(engine, id, SIGKILL);
        else await keepEarlierKill(engine, id, seconds);
        return seconds;
      }
      await beginStop(engine, rec, seconds);
      return seconds;
    });
    let code = await waiter.wait(timeout * 1000);
    if (code === undefined) {
      await engine.withLock(id, "stop", async (rec) => {
        if (rec.state === S.CONTAINER_STATE_STOPPING) await escalateStop(engine, id);
      });
      const deadline = Date.now() + KILL_GRACE_MS;
      let settledWithoutMonitor = false;
      while (code === undefined && !settledWithoutMonitor && Date.now() < deadline) {
        code = await waiter.wait(Math.min(MONITOR_CHECK_MS, deadline - Date.now()));
        if (code === undefined) settledWithoutMonitor = await recordExitWithoutMonitor(engine, id);
      }
      if (code === undefined && !settledWithoutMonitor) {
        throw new HullError("INTERNAL", `container ${id.slice(0, 12)} did not exit ${KILL_GRACE_MS / 1000}s after SIGKILL`, { container: id });
      }
    }
  } finally {
    waiter.cancel();
  }
  // The sync under the lock records the exit if the exit handler has not yet.
  return engine.withLock(id, "stop", async (rec) => rec);
}

/**
 * A STOPPING container whose conmon is gone (killed behind hulld's back) gets
 * no exit file. Once the runtime says its process is gone too, record the exit
 * as libpod does when no exit file comes: -1, with the reason, then clean up.
 * Returns whether the container is settled (no longer STOPPING).
 */
async function recordExitWithoutMonitor(engine: Engine, id: string): Promise<boolean> {
  const rec = await engine.withLock(id, "stop", async (current) => {
    if (current.state !== S.CONTAINER_STATE_STOPPING) return current;
    if (current.conmonPid > 0 && (await isAlive(current.conmonPid))) return undefined;
    const seen = await engine.runtime.state(id);
    if (seen && seen.status !== "stopped") return undefined;
    const reason = "its monitor (conmon) was gone, so nothing recorded the exit status";
    engine.deps.log.warn({ container: id, runtimeStatus: seen?.status ?? "missing" }, `stopped container ${reason}`);
    const saved = await engine.save(vanished(current, reason));
    await engine.event("exit", saved, { exitCode: String(saved.exitCode), reason });
    return saved;
  });
  if (rec === undefined) return false;
  if (rec.state === S.CONTAINER_STATE_STOPPED) await handleExit(engine, id);
  return true;
}

/** The seed's RestartWithTimeout: stop if running, then start again. */
export async function restartContainer(engine: Engine, ref: string, timeoutSeconds?: number): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  const before = await engine.withLock(id, "restart", async (rec) => {
    checkOperation(rec.id, rec.state, "restart");
    return rec;
  });
  if (before.state === S.CONTAINER_STATE_RUNNING || before.state === S.CONTAINER_STATE_CREATED) {
    try {
      await stopContainer(engine, id, timeoutSeconds);
    } catch (err) {
      // It exited by itself since the look above: there is nothing to stop, only to start.
      if (!(err instanceof HullError && err.reason === "CONTAINER_ALREADY_STOPPED")) throw err;
    }
  }
  return engine.withLock(id, "restart", async (rec) => {
    const started = await startLocked(engine, rec);
    await engine.event("restart", started, { restartCount: String(started.restartCount) });
    return started;
  });
}

/** Removes a container, its runtime container and every file hull keeps for it. */
/**
 * An image container's files (upper dir, overlay mount) go with it, so an
 * export reading them would end in a cut-off archive: refuse instead of
 * waiting (a stalled reader could hold a removal for ever), forced or not.
 * Exports take their hold under the container's lock, so checked under it
 * this cannot miss one. A host-directory rootfs is the user's and stays, so
 * its exports do not hold up removal.
 */
function refuseWhileExporting(engine: Engine, rec: ContainerRecord): void {
  const n = exportsReading(engine, rec.id);
  if (rec.imageId === undefined || n === 0) return;
  throw new HullError(
    "CONTAINER_STATE_INVALID",
    `container ${rec.id.slice(0, 12)} cannot be removed while ${n} export${n === 1 ? "" : "s"} of its root filesystem ${n === 1 ? "is" : "are"} in progress`,
    { container: rec.id, operation: "remove", exports: String(n) },
  );
}

export async function removeContainer(engine: Engine, ref: string, force: boolean, timeoutSeconds?: number): Promise<string> {
  const id = await engine.resolve(ref);
  const dependents = await engine.store.findDependents(id);
  if (dependents.length > 0) {
    throw new HullError(
      "CONTAINER_HAS_DEPENDENTS",
      `container ${id.slice(0, 12)} has dependent containers which must be removed first: ${dependents.map((d) => d.slice(0, 12)).join(", ")}`,
      { container: id, dependents: dependents.join(",") },
    );
  }
  const operation = force ? "force-remove" : "remove";
  const isLive = (state: ContainerState): boolean =>
    [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING].includes(state);
  const stop = async (): Promise<void> => {
    try {
      await stopContainer(engine, id, timeoutSeconds);
    } catch (err) {
      if (!(err instanceof HullError && err.reason === "CONTAINER_ALREADY_STOPPED")) throw err;
    }
  };
  const live = await engine.withLock(id, "remove", async (rec) => {
    checkOperation(rec.id, rec.state, operation);
    // Before stopping it: a refused removal must leave the container as it was.
    refuseWhileExporting(engine, rec);
    return isLive(rec.state);
  });
  if (live) await stop();
  for (let attempt = 1; ; attempt++) {
    const removed = await engine.withLock(id, "remove", async (rec) => {
      checkOperation(rec.id, rec.state, operation);
      refuseWhileExporting(engine, rec);
      let current = rec;
      if (isLive(current.state)) {
        // Started again by another call since the look above: stop it again
        // without the lock (a graceful stop may take its whole timeout)...
        if (attempt < REMOVE_STOP_ATTEMPTS) return false;
        // ...unless others keep starting it: then end it here, where nobody
        // can, so its exit is still recorded rather than lost to delete --force.
        current = await killForRemovalLocked(engine, current);
      }
      await removeLocked(engine, current);
      return true;
    });
    if (removed) return id;
    await stop();
  }
}

/** How often a forced removal stops a container without its lock before it kills it under the lock. */
const REMOVE_STOP_ATTEMPTS = 3;

/** SIGKILL and the recorded exit, all under the container's lock (caller holds it). */
async function killForRemovalLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  const waiter = exitWaiter(engine, rec.id);
  try {
    await signalProcess(engine, rec.id, SIGKILL);
    const code = await waiter.wait(KILL_GRACE_MS);
    if (code !== undefined) return await engine.recordExit(rec, code);
    engine.deps.log.warn({ container: rec.id }, `no exit status ${KILL_GRACE_MS / 1000}s after SIGKILL; removing the container as it is`);
    return rec;
  } finally {
    waiter.cancel();
  }
}

/**
 * Deletes the runtime container, every file hull keeps for the container and
 * its record. The REMOVING save (with a remove intent, one batch) comes
 * first: a hulld that dies midway finds it at start and finishes the job
 * with this same function. Caller holds the lock; the process has exited.
 */
export async function removeLocked(engine: Engine, rec: ContainerRecord): Promise<void> {
  const id = rec.id;
  const removing = await saveWithIntent(engine, { ...rec, state: S.CONTAINER_STATE_REMOVING }, removeIntent());
  if (await engine.runtime.exists(id)) await engine.runtime.delete(id, true);
  const { paths } = engine.deps;
  await rm(engine.bundlePath(id), { recursive: true, force: true });
  // conmon's attach-socket links (the container's and its exec sessions') pointed into that bundle.
  for (const name of [id, ...rec.execSessions.map((s) => s.id)]) await rm(join(paths.socketDir, name), { force: true });
  await rm(join(paths.persistDir, id), { recursive: true, force: true });
  // Unmounted whatever its mount count: rm must not descend into the image's files.
  if (rec.imageId !== undefined) await unmountImageRootfs(engine, rec);
  await rm(engine.containerDir(id), { recursive: true, force: true });
  await removeExitFile(paths.exitDir, id);
  await engine.store.deleteContainer(id);
  await engine.event("remove", removing);
  engine.bus.removed(id);
}
