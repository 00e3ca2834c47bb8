// ListPodSandboxMetrics' reading: each ready pod's running containers read
// with the stats' own readers (containerUsage: the cgroup and the writable
// layer), and the pod's network counters through a process in its network
// namespace; metric-set.ts makes the metrics of that sample. As CRI-O,
// stopped containers and pods are left out, and a container that exits
// while it is read is skipped: the cgroup `runc delete` removed answers no
// stats. Failures other than a container or process gone are errors, named
// with the pod.
import { ContainerState, type ContainerRecord, type PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { wrapError } from "../../errors.js";
import { readNetDev } from "../../network/net-dev.js";
import { statsClockNs } from "../../oci/cgroup-stats.js";
import { podMetrics, type MeteredContainer, type NetworkSample, type PodMetricValues } from "./metric-set.js";
import { listPods } from "./query.js";
import { containerUsage } from "./stats.js";

const S = ContainerState;

/** The states the CRI calls CONTAINER_RUNNING: a process, and so a cgroup, exists. */
const RUNNING: ReadonlySet<ContainerState> = new Set([S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING]);

async function meter(engine: Engine, rec: ContainerRecord): Promise<MeteredContainer | undefined> {
  const u = await containerUsage(engine, rec);
  if (u.cgroup === undefined) {
    engine.log.debug({ container: rec.id }, "metrics: the container exited while being read; skipped");
    return undefined;
  }
  return { rec, cgroup: u.cgroup, ...(u.writable ? { writable: u.writable } : {}) };
}

/**
 * The pod's network namespace as seen by the first of its processes that
 * can still be read: the infra container (it lives as long as the pod),
 * then the others. A host-network pod sees the host's interfaces, as with
 * CRI-O. Undefined when none of them runs.
 */
async function network(engine: Engine, pod: PodRecord, candidates: readonly ContainerRecord[]): Promise<NetworkSample | undefined> {
  for (const rec of candidates) {
    if (rec.pid <= 0) continue;
    const timestampNs = statsClockNs();
    const interfaces = await readNetDev(rec.pid);
    if (interfaces !== undefined) return { timestampNs, interfaces };
    engine.log.debug({ pod: pod.id, container: rec.id, pid: rec.pid }, "metrics: the process exited before its network counters were read");
  }
  engine.log.debug({ pod: pod.id }, "metrics: no running process in the pod to read its network counters through");
  return undefined;
}

async function podSample(engine: Engine, pod: PodRecord, recs: readonly ContainerRecord[]): Promise<PodMetricValues> {
  try {
    const running = recs.filter((r) => RUNNING.has(r.state));
    const infra = running.find((r) => r.config.pod?.infra === true);
    const members = running.filter((r) => r !== infra);
    const [metered, net] = await Promise.all([Promise.all(members.map((r) => meter(engine, r))), network(engine, pod, infra ? [infra, ...members] : members)]);
    return podMetrics({
      pod,
      image: infra?.config.image ?? "",
      ...(net ? { network: net } : {}),
      containers: metered.filter((m): m is MeteredContainer => m !== undefined),
    });
  } catch (err) {
    throw wrapError(err, pod.id, "reading the metrics of", "pod sandbox");
  }
}

/** The metrics of every ready pod, oldest first, with its running containers'. */
export async function listPodSandboxMetrics(engine: Engine): Promise<PodMetricValues[]> {
  const [ready, containers] = await Promise.all([listPods(engine, { id: "", state: "ready", labels: {} }, () => ({})), engine.store.listContainers()]);
  const byPod = new Map<string, ContainerRecord[]>();
  for (const c of containers) {
    const id = c.config.pod?.id;
    if (id !== undefined) byPod.set(id, [...(byPod.get(id) ?? []), c]);
  }
  return Promise.all(ready.map((p) => podSample(engine, p, byPod.get(p.id) ?? [])));
}
