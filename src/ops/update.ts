// UpdateContainerResources (the CRI's; libpod's Update): new cgroup limits,
// saved with the container and, while its cgroup lives (created, running,
// paused), applied at once by `runc update`. oom_score_adj belongs to the
// process, not the cgroup: runc cannot change it on a live process, so a new
// value is saved for the next start (CRI-O and containerd ignore it the same way).
import type { Resources } from "../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import { linuxResources } from "../oci/spec.js";
import { validateContainerConfig } from "../validation/container-config.js";
import type { Engine } from "../engine/engine.js";

const LIVE_CGROUP: readonly ContainerState[] = [
  ContainerState.CONTAINER_STATE_CREATED,
  ContainerState.CONTAINER_STATE_RUNNING,
  ContainerState.CONTAINER_STATE_PAUSED,
];

export async function updateLocked(engine: Engine, rec: ContainerRecord, resources: Resources): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "update");
  // The pids limit is hull's, not the CRI's: an update that does not name one keeps the container's.
  const config = { ...rec.config, resources: { ...resources, pidsLimit: resources.pidsLimit || (rec.config.resources?.pidsLimit ?? 0) } };
  // The same rules as at create (minimum memory, share and quota ranges).
  validateContainerConfig(config);
  if (LIVE_CGROUP.includes(rec.state)) {
    const limits = linuxResources(config);
    // Device rules are fixed at create: runc update leaves them, and hull never changes them.
    delete limits.devices;
    await engine.runtime.update(rec.id, { ...limits });
  }
  return engine.save({ ...rec, config });
}

export function updateContainer(engine: Engine, ref: string, resources: Resources): Promise<ContainerRecord> {
  return engine.locked(ref, "update", (rec) => updateLocked(engine, rec, resources));
}
