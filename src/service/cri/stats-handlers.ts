// runtime.v1 ContainerStats, ListContainerStats, PodSandboxStats,
// ListPodSandboxStats; and ListMetricDescriptors / ListPodSandboxMetrics,
// the cAdvisor-named metrics of ops/pods/metric-set.ts encoded as the CRI's
// Metric messages (the kubelet's PodAndContainerStatsFromCRI reads them).
import {
  MetricType,
  type ContainerStats,
  type ContainerStatsRequest,
  type ContainerStatsResponse,
  type CpuUsage,
  type ListContainerStatsRequest,
  type ListContainerStatsResponse,
  type ListMetricDescriptorsRequest,
  type ListMetricDescriptorsResponse,
  type ListPodSandboxMetricsRequest,
  type ListPodSandboxMetricsResponse,
  type ListPodSandboxStatsRequest,
  type ListPodSandboxStatsResponse,
  type MemoryUsage,
  type Metric,
  type PodSandboxMetrics,
  type PodSandboxStats,
  type PodSandboxStatsRequest,
  type PodSandboxStatsResponse,
  type RuntimeServiceServer,
} from "../../gen/runtime/v1/api.js";
import type { Engine } from "../../engine/engine.js";
import type { CgroupStats } from "../../oci/cgroup-stats.js";
import { CpuSampleCache } from "../../oci/cpu-rate.js";
import { containerUsage, podUsage, type ContainerUsage, type PodUsage } from "../../ops/pods/stats.js";
import { metricDescriptors, type MetricValue, type PodMetricValues } from "../../ops/pods/metric-set.js";
import { listPodSandboxMetrics } from "../../ops/pods/metrics.js";
import { listPodContainers } from "../../ops/pods/containers.js";
import { listPods, resolvePod } from "../../ops/pods/query.js";
import { inspectContainer } from "../../ops/inspect.js";
import { validateContainerId, validatePodId } from "../../validation/cri/runtime-requests.js";
import { rejectUndecodable } from "../../validation/wire.js";
import type { RpcWrapper } from "../rpc.js";
import { toCriPod } from "./convert.js";

type StatsHandlers = Pick<
  RuntimeServiceServer,
  "containerStats" | "listContainerStats" | "podSandboxStats" | "listPodSandboxStats" | "listMetricDescriptors" | "listPodSandboxMetrics"
>;

const v = (value: bigint): { value: bigint } => ({ value });

function cpuOf(c: CgroupStats, nanoCores: bigint | undefined): CpuUsage {
  return {
    timestamp: c.timestampNs,
    usageCoreNanoSeconds: v(c.cpu.usageCoreNanoSeconds),
    ...(nanoCores !== undefined ? { usageNanoCores: v(nanoCores) } : {}),
  };
}

function memoryOf(c: CgroupStats): MemoryUsage {
  const m = c.memory;
  return {
    timestamp: c.timestampNs,
    workingSetBytes: v(m.workingSetBytes),
    ...(m.availableBytes !== undefined ? { availableBytes: v(m.availableBytes) } : {}),
    usageBytes: v(m.usageBytes),
    rssBytes: v(m.rssBytes),
    pageFaults: v(m.pageFaults),
    majorPageFaults: v(m.majorPageFaults),
  };
}

function toContainerStats(u: ContainerUsage): ContainerStats {
  const p = u.rec.config.pod;
  return {
    attributes: {
      id: u.rec.id,
      metadata: { name: p?.containerName ?? u.rec.name, attempt: p?.attempt ?? 0 },
      labels: { ...u.rec.config.labels },
      annotations: { ...u.rec.config.annotations },
    },
    ...(u.cgroup ? { cpu: cpuOf(u.cgroup, u.nanoCores), memory: memoryOf(u.cgroup) } : {}),
    ...(u.writable
      ? {
          writableLayer: {
            timestamp: u.writable.timestampNs,
            fsId: { mountpoint: u.writable.path },
            usedBytes: v(u.writable.usedBytes),
            inodesUsed: v(u.writable.inodesUsed),
          },
        }
      : {}),
  };
}

function toPodStats(u: PodUsage): PodSandboxStats {
  const p = toCriPod(u.pod);
  return {
    attributes: { id: p.id, metadata: p.metadata, labels: p.labels, annotations: p.annotations },
    linux: {
      ...(u.cgroup ? { cpu: cpuOf(u.cgroup, u.nanoCores), memory: memoryOf(u.cgroup) } : {}),
      ...(u.cgroup?.pids ? { process: { timestamp: u.cgroup.timestampNs, processCount: v(u.cgroup.pids.current) } } : {}),
      containers: u.containers.map(toContainerStats),
    },
  };
}

function toMetric(m: MetricValue): Metric {
  return {
    name: m.name,
    timestamp: m.timestampNs,
    metricType: m.kind === "counter" ? MetricType.COUNTER : MetricType.GAUGE,
    labelValues: m.labelValues,
    value: v(m.value),
  };
}

function toPodMetrics(p: PodMetricValues): PodSandboxMetrics {
  return {
    podSandboxId: p.podSandboxId,
    metrics: p.metrics.map(toMetric),
    containerMetrics: p.containerMetrics.map((c) => ({ containerId: c.containerId, metrics: c.metrics.map(toMetric) })),
  };
}

export function criStatsHandlers(engine: Engine, rpc: RpcWrapper): StatsHandlers {
  // The last CPU sample per container and pod, for usage_nano_cores.
  const rates = new CpuSampleCache();
  return {
    containerStats: rpc.unary<ContainerStatsRequest, ContainerStatsResponse>("ContainerStats", async (req) => {
      validateContainerId(req);
      return { stats: toContainerStats(await containerUsage(engine, await inspectContainer(engine, req.containerId), rates)) };
    }),
    listContainerStats: rpc.unary<ListContainerStatsRequest, ListContainerStatsResponse>("ListContainerStats", async (req) => {
      rejectUndecodable(req);
      const f = req.filter;
      const recs = await listPodContainers(engine, { id: f?.id ?? "", podId: f?.podSandboxId ?? "", labels: f?.labelSelector ?? {} });
      // Samples of containers and pods that are gone go with them.
      rates.retain([...recs.map((r) => r.id), ...(await engine.store.listPodRecords()).map((p) => `pod:${p.id}`)]);
      return { stats: (await Promise.all(recs.map((r) => containerUsage(engine, r, rates)))).map(toContainerStats) };
    }),
    podSandboxStats: rpc.unary<PodSandboxStatsRequest, PodSandboxStatsResponse>("PodSandboxStats", async (req) => {
      validatePodId(req);
      return { stats: toPodStats(await podUsage(engine, await resolvePod(engine, req.podSandboxId), rates)) };
    }),
    listPodSandboxStats: rpc.unary<ListPodSandboxStatsRequest, ListPodSandboxStatsResponse>("ListPodSandboxStats", async (req) => {
      rejectUndecodable(req);
      const f = req.filter;
      const pods = await listPods(engine, { id: f?.id ?? "", labels: f?.labelSelector ?? {} }, (p) => toCriPod(p).labels);
      return { stats: (await Promise.all(pods.map((p) => podUsage(engine, p, rates)))).map(toPodStats) };
    }),
    listMetricDescriptors: rpc.unary<ListMetricDescriptorsRequest, ListMetricDescriptorsResponse>("ListMetricDescriptors", async (req) => {
      rejectUndecodable(req);
      return { descriptors: metricDescriptors() };
    }),
    listPodSandboxMetrics: rpc.unary<ListPodSandboxMetricsRequest, ListPodSandboxMetricsResponse>("ListPodSandboxMetrics", async (req) => {
      rejectUndecodable(req);
      return { podMetrics: (await listPodSandboxMetrics(engine)).map(toPodMetrics) };
    }),
  };
}
