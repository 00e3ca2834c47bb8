// The CRI's Prometheus-style metrics (ListMetricDescriptors,
// ListPodSandboxMetrics), which the kubelet's PodAndContainerStatsFromCRI
// feature serves on /metrics/cadvisor in place of cAdvisor's: which metrics
// hull gives, their names, help, labels and values, from one sample of a
// pod. Pure: the sample is read by metrics.ts with the stats readers.
//
// The shape is CRI-O's (internal/lib/statsserver): cAdvisor's metric names;
// every metric labelled id, image, namespace, pod and container, plus
// cAdvisor's `name` (the runtime's container name, k8s_<container>_<pod>_…);
// network counters at the pod level with an `interface` label, the
// cgroup's at the container level; a container's namespace and pod filled
// in (CRI-O leaves them empty, cAdvisor's kubelet labels fill them). The
// kubelet turns each Metric into a Prometheus sample with the descriptor's
// label keys, so every metric has exactly as many label values as its
// descriptor has keys, and a metric without a descriptor is dropped.
//
// The set is what hull measures on cgroup v1 and v2 alike (memory.stat,
// cpuacct.usage or cpu.stat, pids.current, oom_kill, the writable layer,
// /proc/<pid>/net/dev) and what the container's record says (its resources,
// its start). Values are the CRI's unsigned integers: cumulative CPU time is
// in whole seconds, truncated, as CRI-O gives it.
import type { CgroupStats } from "../../oci/cgroup-stats.js";
import type { NetDevCounters } from "../../network/net-dev.js";
import type { ContainerRecord, PodRecord } from "../../store/record.js";
import { podContainerName } from "../../domain/pod-files.js";
import type { WritableLayerUsage } from "./stats.js";

export type MetricKind = "counter" | "gauge";

export interface MetricDescriptorSpec {
  name: string;
  help: string;
  labelKeys: string[];
}

export interface MetricValue {
  name: string;
  kind: MetricKind;
  /** In the order of the descriptor's labelKeys. */
  labelValues: string[];
  value: bigint;
  /** Unix nanoseconds of the reading the value comes from. */
  timestampNs: bigint;
}

export interface ContainerMetricValues {
  containerId: string;
  metrics: MetricValue[];
}

export interface PodMetricValues {
  podSandboxId: string;
  metrics: MetricValue[];
  containerMetrics: ContainerMetricValues[];
}

/** What the metrics take from a container's record. */
export type MeteredRecord = Pick<ContainerRecord, "id" | "name" | "startedAt" | "config">;

/** What the metrics take from a pod's record. */
export type MeteredPod = Pick<PodRecord, "id" | "name" | "namespace" | "uid" | "attempt">;

/** A running container as read: its record and its cgroup's usage (a container without a cgroup has no metrics). */
export interface MeteredContainer {
  rec: MeteredRecord;
  cgroup: CgroupStats;
  writable?: WritableLayerUsage;
}

export interface NetworkSample {
  timestampNs: bigint;
  interfaces: NetDevCounters[];
}

export interface PodMetricsSample {
  pod: MeteredPod;
  /** The pod's sandbox image (its infra container's); "" for a pod without one. */
  image: string;
  /** The pod network namespace's counters; absent when no process of the pod could be read. */
  network?: NetworkSample;
  containers: MeteredContainer[];
}

/** CRI-O's runtime labels (id, image) and kubelet labels (namespace, pod, container), with cAdvisor's name. */
export const BASE_LABEL_KEYS: readonly string[] = ["id", "name", "image", "namespace", "pod", "container"];

interface Reading {
  /** Values of the family's own label keys, after the base ones. */
  labels?: string[];
  value: bigint;
  timestampNs: bigint;
}

interface Family<S> {
  name: string;
  help: string;
  kind: MetricKind;
  /** Label keys after BASE_LABEL_KEYS. */
  extraKeys?: string[];
  /** The readings of the sample; none where hull does not measure it for this one. */
  read(sample: S): Reading[];
}

const NS_PER_S = 1_000_000_000n;

const one = (value: bigint, timestampNs: bigint, labels?: string[]): Reading[] => [{ value, timestampNs, ...(labels ? { labels } : {}) }];

/** A gauge of the cgroup's memory stats. */
const memoryGauge = (name: string, help: string, pick: (m: CgroupStats["memory"]) => bigint): Family<MeteredContainer> => ({
  name,
  help,
  kind: "gauge",
  read: (c) => one(pick(c.cgroup.memory), c.cgroup.timestampNs),
});

/**
 * A configured resource from the container's record (hull saves what
 * UpdateContainerResources changes). CRI-O reports the CRI request's
 * values; hull reports a value only where one is set, since an unset one
 * means the kernel's default, not 0. The memory limit is the exception:
 * cAdvisor's and CRI-O's convention is 0 for "no limit", which is hull's
 * own meaning of 0.
 */
const specGauge = (name: string, help: string, pick: (c: MeteredRecord) => number, zeroMeansUnset: boolean): Family<MeteredContainer> => ({
  name,
  help,
  kind: "gauge",
  read: (c) => {
    const v = pick(c.rec);
    return zeroMeansUnset && v <= 0 ? [] : one(BigInt(Math.max(0, v)), c.cgroup.timestampNs);
  },
});

const CONTAINER_FAMILIES: readonly Family<MeteredContainer>[] = [
  {
    // CRI-O's one always-on metric: the time of this reading.
    name: "container_last_seen",
    help: "Last time a container was seen by the exporter",
    kind: "gauge",
    read: (c) => one(c.cgroup.timestampNs / NS_PER_S, c.cgroup.timestampNs),
  },
  {
    // cAdvisor's container_start_time_seconds is its cgroup's creation,
    // i.e. the process's start (a restarted container gets a new cgroup):
    // the record's startedAt. CRI-O uses the creation time instead.
    name: "container_start_time_seconds",
    help: "Start time of the container since unix epoch in seconds.",
    kind: "gauge",
    read: (c) => {
      const ms = Date.parse(c.rec.startedAt);
      return Number.isNaN(ms) ? [] : one(BigInt(Math.floor(ms / 1000)), c.cgroup.timestampNs);
    },
  },
  {
    // One total, labelled cpu="total": hull reads the cgroup's total
    // (cpuacct.usage, cpu.stat usage_usec), as CRI-O does on cgroup v2 and
    // as cAdvisor does with per-CPU metrics off (the kubelet's default).
    name: "container_cpu_usage_seconds_total",
    help: "Cumulative CPU time consumed in seconds.",
    kind: "counter",
    extraKeys: ["cpu"],
    read: (c) => one(c.cgroup.cpu.usageCoreNanoSeconds / NS_PER_S, c.cgroup.timestampNs, ["total"]),
  },
  memoryGauge("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", (m) => m.usageBytes),
  memoryGauge("container_memory_working_set_bytes", "Current working set in bytes.", (m) => m.workingSetBytes),
  memoryGauge("container_memory_rss", "Size of RSS in bytes.", (m) => m.rssBytes),
  memoryGauge("container_memory_cache", "Number of bytes of page cache memory.", (m) => m.cacheBytes),
  memoryGauge("container_memory_mapped_file", "Size of memory mapped files in bytes.", (m) => m.mappedFileBytes),
  {
    // cAdvisor's scopes: "container" counts the cgroup alone, "hierarchy"
    // its descendants too. hull's container cgroups are leaves, so the two
    // are the same hierarchical counters (CRI-O gives both the same value too).
    name: "container_memory_failures_total",
    help: "Cumulative count of memory allocation failures.",
    kind: "counter",
    extraKeys: ["failure_type", "scope"],
    read: (c) => {
      const m = c.cgroup.memory;
      const at = c.cgroup.timestampNs;
      return [
        ...one(m.pageFaults, at, ["pgfault", "container"]),
        ...one(m.pageFaults, at, ["pgfault", "hierarchy"]),
        ...one(m.majorPageFaults, at, ["pgmajfault", "container"]),
        ...one(m.majorPageFaults, at, ["pgmajfault", "hierarchy"]),
      ];
    },
  },
  {
    // The kernel's oom_kill count (v1 memory.oom_control, v2 memory.events),
    // where it keeps one: CRI-O's OOMKillCount.
    name: "container_oom_events_total",
    help: "Count of out of memory events observed for the container",
    kind: "counter",
    read: (c) => (c.cgroup.oomKills === undefined ? [] : one(c.cgroup.oomKills, c.cgroup.timestampNs)),
  },
  {
    name: "container_processes",
    help: "Number of processes running inside the container.",
    kind: "gauge",
    read: (c) => (c.cgroup.pids === undefined ? [] : one(c.cgroup.pids.current, c.cgroup.timestampNs)),
  },
  specGauge("container_spec_memory_limit_bytes", "Memory limit for the container in bytes.", (r) => r.config.resources?.memoryLimitBytes ?? 0, false),
  specGauge("container_spec_cpu_shares", "CPU share of the container.", (r) => r.config.resources?.cpuShares ?? 0, true),
  specGauge("container_spec_cpu_period", "CPU period of the container.", (r) => r.config.resources?.cpuPeriodUs ?? 0, true),
  specGauge("container_spec_cpu_quota", "CPU quota of the container.", (r) => r.config.resources?.cpuQuotaUs ?? 0, true),
  {
    // The writable layer (the overlay's upper dir), as CRI-O's
    // container_fs_usage_bytes and the CRI stats' writable_layer.
    name: "container_fs_usage_bytes",
    help: "Current filesystem usage in bytes.",
    kind: "gauge",
    read: (c) => (c.writable === undefined ? [] : one(c.writable.usedBytes, c.writable.timestampNs)),
  },
];

/** A counter of one interface's line of /proc/net/dev. */
const netCounter = (name: string, help: string, pick: (i: NetDevCounters) => bigint): Family<NetworkSample> => ({
  name,
  help,
  kind: "counter",
  extraKeys: ["interface"],
  read: (n) => n.interfaces.filter((i) => !ignoredInterface(i.name)).map((i) => ({ value: pick(i), timestampNs: n.timestampNs, labels: [i.name] })),
});

const NETWORK_FAMILIES: readonly Family<NetworkSample>[] = [
  netCounter("container_network_receive_bytes_total", "Cumulative count of bytes received", (i) => i.rxBytes),
  netCounter("container_network_receive_packets_total", "Cumulative count of packets received", (i) => i.rxPackets),
  netCounter("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", (i) => i.rxDropped),
  netCounter("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", (i) => i.rxErrors),
  netCounter("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", (i) => i.txBytes),
  netCounter("container_network_transmit_packets_total", "Cumulative count of packets transmitted", (i) => i.txPackets),
  netCounter("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", (i) => i.txDropped),
  netCounter("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", (i) => i.txErrors),
];

// cAdvisor's isIgnoredDevice: loopback, the host ends of veth pairs and
// engine bridges are not the container's traffic (a host-network pod sees
// the host's). CRI-O reports every line; hull follows cAdvisor, whose
// numbers the kubelet's dashboards were built on.
const IGNORED_INTERFACE_PREFIXES: readonly string[] = ["lo", "veth", "docker", "nerdctl"];

export function ignoredInterface(name: string): boolean {
  const lower = name.toLowerCase();
  return IGNORED_INTERFACE_PREFIXES.some((p) => lower.startsWith(p));
}

const descriptorOf = <S>(f: Family<S>): MetricDescriptorSpec => ({ name: f.name, help: f.help, labelKeys: [...BASE_LABEL_KEYS, ...(f.extraKeys ?? [])] });

/** Every metric ListPodSandboxMetrics may answer, container-level then pod-level. */
export function metricDescriptors(): MetricDescriptorSpec[] {
  return [...CONTAINER_FAMILIES.map(descriptorOf), ...NETWORK_FAMILIES.map(descriptorOf)];
}

function values<S>(families: readonly Family<S>[], sample: S, base: readonly string[]): MetricValue[] {
  return families.flatMap((f) =>
    f.read(sample).map((r) => ({ name: f.name, kind: f.kind, labelValues: [...base, ...(r.labels ?? [])], value: r.value, timestampNs: r.timestampNs })),
  );
}

/** The base label values of a pod's container. */
export function containerLabelValues(pod: MeteredPod, rec: MeteredRecord): string[] {
  const p = rec.config.pod;
  return [rec.id, rec.name, p?.image ?? rec.config.image, pod.namespace, pod.name, p?.containerName ?? rec.name];
}

/** The base label values of the pod itself: its sandbox is container "POD", as the kubelet names the pause container. */
export function podLabelValues(pod: MeteredPod, image: string): string[] {
  return [pod.id, podContainerName("POD", pod, pod.attempt), image, pod.namespace, pod.name, "POD"];
}

/** One pod's metrics: the network at the pod level, the cgroup and layer per container. */
export function podMetrics(sample: PodMetricsSample): PodMetricValues {
  const { pod } = sample;
  return {
    podSandboxId: pod.id,
    metrics: sample.network === undefined ? [] : values(NETWORK_FAMILIES, sample.network, podLabelValues(pod, sample.image)),
    containerMetrics: sample.containers.map((c) => ({ containerId: c.rec.id, metrics: values(CONTAINER_FAMILIES, c, containerLabelValues(pod, c.rec)) })),
  };
}
