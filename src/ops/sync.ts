// SyncContainer (libpod's Sync): ask the runtime what it sees and save any difference.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { hasRuntimeContainer } from "../statemachine/states.js";
import type { RuntimeState } from "../oci/runtime.js";
import type { Engine } from "../engine/engine.js";

const S = ContainerState;

const FROM_RUNTIME: Readonly<Record<string, ContainerState>> = {
  created: S.CONTAINER_STATE_CREATED,
  running: S.CONTAINER_STATE_RUNNING,
  paused: S.CONTAINER_STATE_PAUSED,
};

/** What a record says once the runtime has no container for it (an exit nobody recorded). */
export function vanished(rec: ContainerRecord, reason: string): ContainerRecord {
  return {
    ...rec,
    state: S.CONTAINER_STATE_STOPPED,
    // libpod's answer for an exit with no exit file: -1, as Podman shows it.
    exitCode: rec.state === S.CONTAINER_STATE_STOPPED ? rec.exitCode : -1,
    exitSignal: rec.state === S.CONTAINER_STATE_STOPPED ? rec.exitSignal : 0,
    pid: 0,
    finishedAt: rec.finishedAt || new Date().toISOString(),
    stateReason: reason,
  };
}

/**
 * Saves what the runtime's view `seen` (undefined: no such container) says
 * about rec. Caller holds the lock and has run engine.sync (exit files are
 * already read).
 */
export async function applyRuntimeState(
  engine: Engine,
  rec: ContainerRecord,
  seen: RuntimeState | undefined,
  missingReason = "the runtime no longer knows the container",
): Promise<ContainerRecord> {
  if (!hasRuntimeContainer(rec.state)) return rec;
  let next: ContainerRecord = rec;
  if (!seen) {
    next = vanished(rec, missingReason);
  } else {
    const mapped = FROM_RUNTIME[seen.status];
    // STOPPING is ours alone: the runtime still says running until the exit.
    if (mapped !== undefined && mapped !== rec.state && rec.state !== S.CONTAINER_STATE_STOPPING && rec.state !== S.CONTAINER_STATE_STOPPED) {
      next = { ...rec, state: mapped, pid: seen.pid || rec.pid };
      // A start whose RUNNING save was lost (a crash right after `runc start`).
      if (rec.state === S.CONTAINER_STATE_CREATED && mapped !== S.CONTAINER_STATE_CREATED) next.startedAt = new Date().toISOString();
    } else if (mapped === undefined && seen.status !== "stopped") {
      next = { ...rec, state: S.CONTAINER_STATE_UNKNOWN, stateReason: `the runtime reports status "${seen.status}"` };
    }
  }
  if (next === rec) return rec;
  const saved = await engine.save(next);
  await engine.event("sync", saved, { runtimeStatus: seen?.status ?? "missing" });
  return saved;
}

/** Caller holds the lock and has run engine.sync (exit files are already read). */
export async function syncWithRuntime(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  if (!hasRuntimeContainer(rec.state)) return rec;
  return applyRuntimeState(engine, rec, await engine.runtime.state(rec.id));
}

export function syncContainer(engine: Engine, ref: string): Promise<ContainerRecord> {
  return engine.locked(ref, "sync", (rec) => syncWithRuntime(engine, rec));
}
