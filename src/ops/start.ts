// Start and Init with dependencies: recursive brings the chain up first,
// deepest dependency first; non-recursive refuses while one is not running.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";
import { checkDependenciesRunning, initLocked, startLocked } from "./operations.js";

/** Every dependency of id, transitively, deepest first, each once. */
async function dependencyOrder(engine: Engine, id: string): Promise<string[]> {
  const order: string[] = [];
  const seen = new Set<string>([id]);
  const visit = async (current: string): Promise<void> => {
    const rec = await engine.store.getContainer(current);
    for (const dep of rec?.dependencyIds ?? []) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      await visit(dep);
      order.push(dep);
    }
  };
  await visit(id);
  return order;
}

/** Starts every dependency of id that is not running, deepest first (for StartContainer and start-and-attach). */
export async function startDependencies(engine: Engine, id: string): Promise<void> {
  for (const dep of await dependencyOrder(engine, id)) {
    await engine.withLock(dep, "start dependency", (rec) => startLocked(engine, rec));
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

export { ContainerState };
