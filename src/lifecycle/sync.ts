// The seed's Sync: ask the OCI runtime what it sees and save any difference.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { hasRuntimeContainer } from "../statemachine/states.js";
import type { Engine } from "./engine.js";

const S = ContainerState;

const FROM_RUNTIME: Readonly<Record<string, ContainerState>> = {
  created: S.CONTAINER_STATE_CREATED,
  running: S.CONTAINER_STATE_RUNNING,
  paused: S.CONTAINER_STATE_PAUSED,
};

/** Caller holds the lock and has run engine.sync (exit files are already read). */
export async function syncWithRuntime(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  if (!hasRuntimeContainer(rec.state)) return rec;
  const seen = await engine.runtime.state(rec.id);
  let next: ContainerRecord = rec;
  if (!seen) {
    next = {
      ...rec,
      state: S.CONTAINER_STATE_STOPPED,
      exitCode: rec.state === S.CONTAINER_STATE_STOPPED ? rec.exitCode : -1,
      pid: 0,
      finishedAt: rec.finishedAt || new Date().toISOString(),
      stateReason: "the runtime no longer knows the container",
    };
  } else {
    const mapped = FROM_RUNTIME[seen.status];
    // STOPPING is ours alone: the runtime still says running until the exit.
    if (mapped !== undefined && mapped !== rec.state && rec.state !== S.CONTAINER_STATE_STOPPING && rec.state !== S.CONTAINER_STATE_STOPPED) {
      next = { ...rec, state: mapped, pid: seen.pid || rec.pid };
    } else if (mapped === undefined && seen.status !== "stopped") {
      next = { ...rec, state: S.CONTAINER_STATE_UNKNOWN, stateReason: `the runtime reports status "${seen.status}"` };
    }
  }
  if (next === rec) return rec;
  const saved = await engine.save(next);
  await engine.event("sync", saved, { runtimeStatus: seen?.status ?? "missing" });
  return saved;
}
