// PauseContainer: freeze every process of the container (the freezer cgroup).
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

export async function pauseLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "pause");
  await engine.runtime.pause(rec.id);
  const saved = await engine.save({ ...rec, state: ContainerState.CONTAINER_STATE_PAUSED });
  await engine.event("pause", saved);
  return saved;
}

export function pauseContainer(engine: Engine, ref: string): Promise<ContainerRecord> {
  return engine.locked(ref, "pause", (rec) => pauseLocked(engine, rec));
}
