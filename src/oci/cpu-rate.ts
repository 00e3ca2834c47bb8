// usageNanoCores, the CRI's CPU rate, from two samples of a cgroup's
// cumulative CPU time: the kubelet's CRI stats provider computes it from its
// previous sample, and CRI-O and containerd cache the last sample of each
// container to answer it themselves. Pure: the samples come from
// cgroup-stats.ts.
import type { CgroupStats } from "./cgroup-stats.js";

export interface CpuSample {
  timestampNs: bigint;
  usageCoreNanoSeconds: bigint;
}

/**
 * CPU use between two samples in nanocores (1e9 = one core busy), rounded
 * down. Undefined when there is no rate to give: the samples are not in time
 * order, or the counter went down (a new cgroup under the same id, as after
 * a restart). containerd's CRI answers 0 in those cases; undefined lets the
 * caller leave the CRI's optional usageNanoCores unset instead of reporting
 * an idle container.
 */
export function nanoCores(prev: CpuSample, cur: CpuSample): bigint | undefined {
  const dt = cur.timestampNs - prev.timestampNs;
  const du = cur.usageCoreNanoSeconds - prev.usageCoreNanoSeconds;
  if (dt <= 0n || du < 0n) return undefined;
  return (du * 1_000_000_000n) / dt;
}

/**
 * The last CPU sample of each container or pod, as containerd's and CRI-O's
 * stats caches keep: each new sample gives usageNanoCores since the previous
 * one. Callers forget() an id when its container or pod is removed, or
 * retain() the ids a full listing saw.
 */
export class CpuSampleCache {
  private readonly last = new Map<string, CpuSample>();

  /** Records cur for id; returns the rate since the previous sample (undefined for the first, see nanoCores). */
  update(id: string, cur: CpuSample): bigint | undefined {
    const prev = this.last.get(id);
    // Two concurrent stats calls may finish out of order: an older sample
    // must not replace a newer one, or the next rate spans the wrong interval.
    if (prev !== undefined && cur.timestampNs <= prev.timestampNs) return undefined;
    this.last.set(id, { timestampNs: cur.timestampNs, usageCoreNanoSeconds: cur.usageCoreNanoSeconds });
    return prev === undefined ? undefined : nanoCores(prev, cur);
  }

  forget(id: string): void {
    this.last.delete(id);
  }

  /** Drops every id not in keep (the containers a ListContainerStats found). */
  retain(keep: Iterable<string>): void {
    const kept = new Set(keep);
    for (const id of [...this.last.keys()]) if (!kept.has(id)) this.last.delete(id);
  }

  get size(): number {
    return this.last.size;
  }
}

/** The CPU sample within a cgroup's stats. */
export function cpuSampleOf(stats: CgroupStats): CpuSample {
  return { timestampNs: stats.timestampNs, usageCoreNanoSeconds: stats.cpu.usageCoreNanoSeconds };
}
