// RestartContainer (libpod's RestartWithTimeout): stop it if it runs, then
// start it again. Batch runs restartLocked, the same steps under its lock.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";
import { startLocked } from "./start.js";
import { ensureStopped, stopLocked } from "./stop.js";

/** A created container's process (runc's init) is stopped too before the new start. */
function needsStop(state: ContainerState): boolean {
  return state === ContainerState.CONTAINER_STATE_RUNNING || state === ContainerState.CONTAINER_STATE_CREATED;
}

async function startAgain(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  const started = await startLocked(engine, rec);
  await engine.event("restart", started, { restartCount: String(started.restartCount) });
  return started;
}

export async function restartContainer(engine: Engine, ref: string, timeoutSeconds?: number): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  const before = await engine.withLock(id, "restart", async (rec) => {
    checkOperation(rec.id, rec.state, "restart");
    return rec;
  });
  // It may exit by itself since the look above: then there is nothing to stop, only to start.
  if (needsStop(before.state)) await ensureStopped(engine, id, timeoutSeconds);
  return engine.withLock(id, "restart", (rec) => startAgain(engine, rec));
}

export async function restartLocked(engine: Engine, rec: ContainerRecord, timeoutSeconds?: number): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "restart");
  let current = rec;
  if (needsStop(current.state)) {
    try {
      current = await stopLocked(engine, current, timeoutSeconds);
    } catch (err) {
      if (!(err instanceof HullError && err.reason === "CONTAINER_ALREADY_STOPPED")) throw err;
      current = await engine.sync(rec.id);
    }
  }
  return startAgain(engine, current);
}
