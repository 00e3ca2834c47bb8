// UnpauseContainer: thaw a paused container.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

export async function unpauseLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "unpause");
  await engine.runtime.resume(rec.id);
  const saved = await engine.save({ ...rec, state: ContainerState.CONTAINER_STATE_RUNNING });
  await engine.event("unpause", saved);
  return saved;
}

export function unpauseContainer(engine: Engine, ref: string): Promise<ContainerRecord> {
  return engine.locked(ref, "unpause", (rec) => unpauseLocked(engine, rec));
}
