// The CRI's container verbs over hull's operations, with the CRI's
// semantics where hull.v1's differ: StopContainer and RemoveContainer of an
// unknown container are OK (the kubelet retries them), stopping an exited
// one is OK, a running one is removed by force; a pod's infra container is
// hull's business and never listed.
import type { ContainerRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { HullError } from "../../errors.js";
import { ensureStopped } from "../stop.js";
import { removeContainer } from "../remove.js";

/** The container ref names, or undefined when there is none. */
export async function findContainer(engine: Engine, ref: string): Promise<string | undefined> {
  try {
    return await engine.resolve(ref);
  } catch (err) {
    if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return undefined;
    throw err;
  }
}

export async function stopPodContainer(engine: Engine, ref: string, timeoutSeconds: number): Promise<void> {
  const id = await findContainer(engine, ref);
  if (id === undefined) return;
  try {
    await ensureStopped(engine, id, timeoutSeconds);
  } catch (err) {
    // Never started (CREATED or CONFIGURED): there is nothing to stop.
    if (err instanceof HullError && err.reason === "CONTAINER_STATE_INVALID" && (await engine.sync(id)).pid === 0) return;
    throw err;
  }
}

export async function removePodContainer(engine: Engine, ref: string): Promise<void> {
  const id = await findContainer(engine, ref);
  if (id === undefined) return;
  try {
    await removeContainer(engine, id, true, 0);
  } catch (err) {
    // Removed by a concurrent call meanwhile: the same outcome.
    if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return;
    throw err;
  }
}

export interface PodContainerFilter {
  id: string;
  podId: string;
  labels: Record<string, string>;
  states?: (rec: ContainerRecord) => boolean;
}

export async function listPodContainers(engine: Engine, filter: PodContainerFilter): Promise<ContainerRecord[]> {
  return (await engine.store.listContainers())
    .filter((c) => c.config.pod !== undefined && !c.config.pod.infra)
    .filter((c) => filter.id === "" || c.id.startsWith(filter.id))
    .filter((c) => filter.podId === "" || (c.config.pod?.id ?? "").startsWith(filter.podId))
    .filter((c) => Object.entries(filter.labels).every(([k, v]) => c.config.labels[k] === v))
    .filter((c) => filter.states === undefined || filter.states(c));
}
