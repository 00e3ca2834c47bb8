// StartContainer and InitContainer (libpod's Start and Init with their
// recursive flag): recursive brings the dependency chain up first, deepest
// first; otherwise a dependency that is not running refuses the call.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";
import { initLocked } from "./init.js";
import { checkDependenciesRunning, dependencyOrder } from "./dependencies.js";

/** Start under the container's lock: init when needed, then run the process. */
export async function startLocked(engine: Engine, rec: ContainerRecord, opts: { keepRestartCount?: boolean } = {}): Promise<ContainerRecord> {
  if (checkOperation(rec.id, rec.state, "start") === "noop") return rec;
  await checkDependenciesRunning(engine, rec);
  let current = rec;
  if (current.state !== ContainerState.CONTAINER_STATE_CREATED) current = await initLocked(engine, current, opts);
  await engine.runtime.start(current.id);
  const saved = await engine.save({
    ...current,
    state: ContainerState.CONTAINER_STATE_RUNNING,
    startedAt: new Date().toISOString(),
    stoppedByUser: false,
  });
  await engine.event("start", saved);
  return saved;
}

/** Starts every dependency of id that is not running, deepest first (recursive start and init, start-and-attach). */
export async function startDependencies(engine: Engine, id: string): Promise<void> {
  for (const dep of await dependencyOrder(engine, id)) {
    await engine.withLock(dep, "start", (rec) => startLocked(engine, rec));
  }
}

export async function startContainer(engine: Engine, ref: string, recursive: boolean): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  if (recursive) await startDependencies(engine, id);
  return engine.withLock(id, "start", (rec) => startLocked(engine, rec));
}

export async function initContainer(engine: Engine, ref: string, recursive: boolean): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  if (recursive) await startDependencies(engine, id);
  return engine.withLock(id, "init", async (rec) => {
    checkOperation(rec.id, rec.state, "init");
    await checkDependenciesRunning(engine, rec);
    return initLocked(engine, rec);
  });
}
