// Dependencies between containers (libpod's --requires): a container starts
// only once every container it depends on runs; recursive start brings the
// chain up first, deepest dependency first (start.ts).
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { stateName } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

/** Refuses (DEPENDENCY_NOT_RUNNING) unless every dependency is running. */
export async function checkDependenciesRunning(engine: Engine, rec: ContainerRecord): Promise<void> {
  for (const depId of rec.dependencyIds) {
    const dep = await engine.store.getContainer(depId);
    if (!dep || dep.state !== ContainerState.CONTAINER_STATE_RUNNING) {
      const what = dep ? `${dep.name} (${depId.slice(0, 12)}) is ${stateName(dep.state)}` : `${depId.slice(0, 12)} no longer exists`;
      throw new HullError("DEPENDENCY_NOT_RUNNING", `container ${rec.id.slice(0, 12)} depends on container ${what}: start it first or start with recursive`, {
        container: rec.id,
        dependency: depId,
      });
    }
  }
}

/** Every dependency of id, transitively, deepest first, each once. */
export async function dependencyOrder(engine: Engine, id: string): Promise<string[]> {
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
