// ContainerStats and PodSandboxStats: usage read from the cgroups (CPU time,
// cAdvisor's memory working set, page faults), the CPU rate from the last
// sample the caller keeps (as containerd and CRI-O compute usage_nano_cores),
// and the writable layer's disk use (the overlay's upper dir). A container
// that is not running has no cgroup: it answers without CPU and memory.
import type { ContainerRecord, PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { readCgroupStats, readCgroupsSum, statsClockNs, type CgroupStats } from "../../oci/cgroup-stats.js";
import { cpuSampleOf, type CpuSampleCache } from "../../oci/cpu-rate.js";
import { cgroupPathOf } from "../../oci/spec-isolation.js";
import { overlayDirs } from "../../images/overlay.js";
import { directoryUsage } from "../../images/layer-usage.js";
import { podContainers } from "./query.js";

export interface WritableLayerUsage {
  timestampNs: bigint;
  path: string;
  usedBytes: bigint;
  inodesUsed: bigint;
}

export interface ContainerUsage {
  rec: ContainerRecord;
  cgroup?: CgroupStats;
  nanoCores?: bigint;
  writable?: WritableLayerUsage;
}

export interface PodUsage {
  pod: PodRecord;
  cgroup?: CgroupStats;
  nanoCores?: bigint;
  containers: ContainerUsage[];
}

async function writableLayer(engine: Engine, rec: ContainerRecord): Promise<WritableLayerUsage | undefined> {
  if (rec.imageId === undefined) return undefined;
  const path = overlayDirs(engine.containerDir(rec.id)).upper;
  const timestampNs = statsClockNs();
  const u = await directoryUsage(path);
  return { timestampNs, path, usedBytes: u?.usedBytes ?? 0n, inodesUsed: u?.inodesUsed ?? 0n };
}

/**
 * A container's usage. With rates, its CPU sample is kept there for the next
 * call's nanoCores (the CRI stats); without, nothing is kept and nanoCores is
 * left out (the CRI metrics, which give the cumulative counter alone and must
 * not shorten the stats' rate interval).
 */
export async function containerUsage(engine: Engine, rec: ContainerRecord, rates?: CpuSampleCache): Promise<ContainerUsage> {
  const [cgroup, writable] = await Promise.all([readCgroupStats(cgroupPathOf(rec.id, rec.config)), writableLayer(engine, rec)]);
  if (cgroup === undefined) rates?.forget(rec.id);
  const nanoCores = cgroup === undefined ? undefined : rates?.update(rec.id, cpuSampleOf(cgroup));
  return { rec, ...(cgroup ? { cgroup } : {}), ...(nanoCores !== undefined ? { nanoCores } : {}), ...(writable ? { writable } : {}) };
}

/** A pod's usage: the sum of its containers' cgroups (infra included), and each container's own (infra not listed). */
export async function podUsage(engine: Engine, pod: PodRecord, rates: CpuSampleCache): Promise<PodUsage> {
  const ids = await podContainers(engine, pod.id);
  const recs = await Promise.all(ids.map((id) => engine.store.getContainer(id)));
  const live = recs.filter((r): r is ContainerRecord => r !== undefined);
  const cgroup = await readCgroupsSum(live.map((r) => cgroupPathOf(r.id, r.config)));
  const key = `pod:${pod.id}`;
  const nanoCores = cgroup === undefined ? undefined : rates.update(key, cpuSampleOf(cgroup));
  const containers = await Promise.all(live.filter((r) => !r.config.pod?.infra).map((r) => containerUsage(engine, r, rates)));
  return { pod, ...(cgroup ? { cgroup } : {}), ...(nanoCores !== undefined ? { nanoCores } : {}), containers };
}
