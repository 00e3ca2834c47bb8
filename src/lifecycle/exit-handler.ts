// What conmon's exit command does for Podman: when a container's process
// exits, record it and run cleanup, which applies the restart policy.
// Also the reconciliation hulld runs at start for exits it slept through.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { mayHaveExited } from "../statemachine/states.js";
import type { Engine } from "./engine.js";
import { cleanupLocked } from "./operations.js";
import { stopContainer } from "./stop.js";
import { endExecSessionsLocked, recoverExecSessions, settleExecSessions } from "./exec.js";

const S = ContainerState;

/** Runs after each exit file appears; never throws (it has no caller to tell). */
export async function handleExit(engine: Engine, id: string): Promise<void> {
  try {
    // Exec processes die with the container's pid namespace: let their sessions record it first.
    await settleExecSessions(engine, id);
    await engine.withLock(id, "exit", async (rec) => {
      if (rec.state === S.CONTAINER_STATE_STOPPED) await cleanupLocked(engine, await endExecSessionsLocked(engine, rec));
    });
  } catch (err) {
    if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return;
    engine.deps.log.error({ err, container: id }, "handling the container's exit");
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Brings one record in line with the runtime after hulld (re)starts:
 * exits that happened while it was down are recorded and cleaned up; a
 * stop cut short by a crash is finished; a vanished container is marked.
 */
async function reconcile(engine: Engine, rec: ContainerRecord): Promise<void> {
  const synced = await engine.withLock(rec.id, "recover", async (current) => {
    if (!mayHaveExited(current.state) && current.state !== S.CONTAINER_STATE_STOPPED) return current;
    if (current.state === S.CONTAINER_STATE_STOPPED) return current;
    const runtimeState = await engine.runtime.state(current.id);
    if (runtimeState && (runtimeState.status !== "stopped" || isAlive(current.conmonPid))) return current;
    // No exit file (sync found none) and no live process: nobody will ever write one.
    const saved = await engine.save({
      ...current,
      state: S.CONTAINER_STATE_STOPPED,
      exitCode: -1,
      pid: 0,
      finishedAt: new Date().toISOString(),
      stateReason: runtimeState ? "the container's monitor (conmon) died without an exit status" : "the runtime container vanished while hulld was down",
    });
    await engine.event("exit", saved, { exitCode: "-1", reason: saved.stateReason });
    return saved;
  });
  if (synced.state === S.CONTAINER_STATE_STOPPED) await handleExit(engine, synced.id);
  if (synced.state === S.CONTAINER_STATE_STOPPING) {
    // The stop's timer died with the old hulld: run the stop again.
    void stopContainer(engine, synced.id).catch((err: unknown) => engine.deps.log.error({ err, container: synced.id }, "finishing an interrupted stop"));
  }
}

export async function recoverAll(engine: Engine): Promise<void> {
  for (const rec of await engine.store.listContainers()) {
    try {
      await recoverExecSessions(engine, rec.id);
      await reconcile(engine, rec);
    } catch (err) {
      engine.deps.log.error({ err, container: rec.id }, "reconciling the container with the runtime");
    }
  }
}
