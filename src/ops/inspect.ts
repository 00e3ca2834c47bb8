// InspectContainer and ListContainers: reads. Inspect syncs the container
// under its lock (an exit is recorded before it is shown); List reads the
// store's in-memory mirror and never waits on a container's lock (podman
// #23210: ps slow behind busy containers).
import type { ContainerRecord, ContainerState } from "../store/record.js";
import type { Engine } from "../engine/engine.js";

export interface ListFilter {
  /** Any of these states; empty: any. */
  states: ContainerState[];
  /** A substring of the name; empty: any. */
  name: string;
  idPrefix: string;
  /** Each key present, with this value unless the value is empty. */
  labels: Readonly<Record<string, string>>;
}

export function matchesFilter(rec: ContainerRecord, f: ListFilter): boolean {
  if (f.states.length > 0 && !f.states.includes(rec.state)) return false;
  if (f.name !== "" && !rec.name.includes(f.name)) return false;
  if (f.idPrefix !== "" && !rec.id.startsWith(f.idPrefix)) return false;
  for (const [key, value] of Object.entries(f.labels)) {
    const have = rec.config.labels[key];
    if (have === undefined || (value !== "" && have !== value)) return false;
  }
  return true;
}

export function inspectContainer(engine: Engine, ref: string): Promise<ContainerRecord> {
  return engine.locked(ref, "inspect", async (rec) => rec);
}

export async function listContainers(engine: Engine, filter: ListFilter): Promise<ContainerRecord[]> {
  const all = await engine.store.listContainers();
  // No filter (ps -a, the kubelet's relist): 10k matchesFilter calls, each with its Object.entries, for nothing.
  const none = filter.states.length === 0 && filter.name === "" && filter.idPrefix === "" && Object.keys(filter.labels).length === 0;
  return none ? all : all.filter((rec) => matchesFilter(rec, filter));
}
