// The CRI metrics without root: which metrics a pod sample gives, their
// names, kinds, labels and values (ops/pods/metric-set.ts), and the
// /proc/net/dev parser they read the network from (network/net-dev.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ContainerConfig } from "../../src/gen/hull/v1/container.js";
import type { CgroupStats } from "../../src/oci/cgroup-stats.js";
import { parseNetDev, type NetDevCounters } from "../../src/network/net-dev.js";
import {
  BASE_LABEL_KEYS,
  ignoredInterface,
  metricDescriptors,
  podMetrics,
  type MeteredContainer,
  type MeteredPod,
  type MeteredRecord,
  type MetricValue,
  type PodMetricsSample,
} from "../../src/ops/pods/metric-set.js";

// /proc/net/dev of a pod's network namespace (kernel 6.x), with a counter wide enough to touch the colon.
const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     168       2    0    0    0     0          0         0      168       2    0    0    0     0       0          0
  eth0:12345678901   3456    7    8    0     0          0         1   987654     321    2    3    0     0       0          0
`;

const pod: MeteredPod = { id: "p".repeat(64), name: "web", namespace: "shop", uid: "uid-1", attempt: 2 };

function container(over: { memoryLimitBytes?: number; cpuQuotaUs?: number; cpuPeriodUs?: number; cpuShares?: number; startedAt?: string } = {}): MeteredRecord {
  return {
    id: "c".repeat(64),
    name: "k8s_app_web_shop_uid-1_0",
    startedAt: over.startedAt ?? "2024-01-01T00:00:05.500Z",
    config: ContainerConfig.fromPartial({
      image: "sha256:abc",
      resources: {
        memoryLimitBytes: over.memoryLimitBytes ?? 0,
        cpuQuotaUs: over.cpuQuotaUs ?? 0,
        cpuPeriodUs: over.cpuPeriodUs ?? 0,
        cpuShares: over.cpuShares ?? 0,
      },
      pod: { id: pod.id, name: pod.name, namespace: pod.namespace, uid: pod.uid, containerName: "app", attempt: 0, image: "busybox:1", infra: false },
    }),
  };
}

const T = 1_700_000_123_456_789_000n;

function cgroup(over: Partial<CgroupStats> = {}): CgroupStats {
  return {
    timestampNs: T,
    cpu: { usageCoreNanoSeconds: 3_999_999_999n },
    memory: {
      usageBytes: 10_000n,
      workingSetBytes: 8_000n,
      rssBytes: 6_000n,
      cacheBytes: 3_000n,
      mappedFileBytes: 1_000n,
      pageFaults: 77n,
      majorPageFaults: 5n,
    },
    pids: { current: 3n },
    oomKills: 1n,
    ...over,
  };
}

const metered = (over: Partial<MeteredContainer> = {}): MeteredContainer => ({
  rec: container(),
  cgroup: cgroup(),
  writable: { timestampNs: T + 5n, path: "/upper", usedBytes: 2_097_152n, inodesUsed: 4n },
  ...over,
});

const sample = (over: Partial<PodMetricsSample> = {}): PodMetricsSample => ({
  pod,
  image: "registry.k8s.io/pause:3.10",
  network: { timestampNs: T + 9n, interfaces: parseNetDev(NET_DEV) },
  containers: [metered()],
  ...over,
});

/** name{labels} = value, the Prometheus way, for readable assertions. */
function byName(metrics: readonly MetricValue[]): Map<string, MetricValue[]> {
  const out = new Map<string, MetricValue[]>();
  for (const m of metrics) out.set(m.name, [...(out.get(m.name) ?? []), m]);
  return out;
}

function only(metrics: readonly MetricValue[], name: string): MetricValue {
  const found = metrics.filter((m) => m.name === name);
  assert.equal(found.length, 1, `one ${name}`);
  return found[0] as MetricValue;
}

describe("/proc/net/dev", () => {
  it("reads each interface's receive and transmit counters, the name up to the colon", () => {
    const [lo, eth0] = parseNetDev(NET_DEV);
    assert.deepEqual(lo, { name: "lo", rxBytes: 168n, rxPackets: 2n, rxErrors: 0n, rxDropped: 0n, txBytes: 168n, txPackets: 2n, txErrors: 0n, txDropped: 0n });
    assert.deepEqual(eth0, {
      name: "eth0",
      rxBytes: 12345678901n,
      rxPackets: 3456n,
      rxErrors: 7n,
      rxDropped: 8n,
      txBytes: 987654n,
      txPackets: 321n,
      txErrors: 2n,
      txDropped: 3n,
    });
  });
  it("refuses a line that does not hold 16 counters, naming the interface and file", () => {
    assert.throws(() => parseNetDev("  eth0: 1 2 3\n", "/proc/7/net/dev"), /\/proc\/7\/net\/dev: the line of interface "eth0" does not hold 16 counters/);
    assert.deepEqual(parseNetDev(""), []);
  });
});

describe("metric descriptors", () => {
  it("are unique, cAdvisor-named, with the base label keys first", () => {
    const d = metricDescriptors();
    assert.equal(new Set(d.map((x) => x.name)).size, d.length);
    for (const x of d) {
      assert.match(x.name, /^container_[a-z_]+$/);
      assert.ok(x.help.length > 0, x.name);
      assert.deepEqual(x.labelKeys.slice(0, BASE_LABEL_KEYS.length), [...BASE_LABEL_KEYS]);
    }
    const keys = new Map(d.map((x) => [x.name, x.labelKeys.slice(BASE_LABEL_KEYS.length)]));
    assert.deepEqual(keys.get("container_cpu_usage_seconds_total"), ["cpu"]);
    assert.deepEqual(keys.get("container_memory_failures_total"), ["failure_type", "scope"]);
    assert.deepEqual(keys.get("container_network_receive_bytes_total"), ["interface"]);
    assert.deepEqual(keys.get("container_memory_working_set_bytes"), []);
  });
  it("describe every metric a full sample gives, with as many label values as keys", () => {
    const keys = new Map(metricDescriptors().map((x) => [x.name, x.labelKeys.length]));
    const p = podMetrics(
      sample({ containers: [metered({ rec: container({ memoryLimitBytes: 1 << 26, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, cpuShares: 512 }) })] }),
    );
    const all = [...p.metrics, ...p.containerMetrics.flatMap((c) => c.metrics)];
    for (const m of all) assert.equal(m.labelValues.length, keys.get(m.name), `${m.name}: label values for its descriptor's keys`);
    // A full sample gives every descriptor.
    assert.deepEqual(new Set(all.map((m) => m.name)), new Set(keys.keys()));
  });
});

describe("a pod's metrics", () => {
  it("network at the pod level: one per interface but loopback, labelled as the POD with the sandbox image", () => {
    const p = podMetrics(sample());
    assert.equal(p.podSandboxId, pod.id);
    const rx = only(p.metrics, "container_network_receive_bytes_total");
    assert.deepEqual(rx.labelValues, [pod.id, "k8s_POD_web_shop_uid-1_2", "registry.k8s.io/pause:3.10", "shop", "web", "POD", "eth0"]);
    assert.equal(rx.value, 12345678901n);
    assert.equal(rx.kind, "counter");
    assert.equal(rx.timestampNs, T + 9n);
    const got = byName(p.metrics);
    assert.equal(got.size, 8, "the eight network counters");
    assert.equal(only(p.metrics, "container_network_transmit_packets_dropped_total").value, 3n);
    assert.equal(only(p.metrics, "container_network_receive_errors_total").value, 7n);
    assert.ok(p.metrics.every((m) => m.labelValues.at(-1) === "eth0"));
  });
  it("no network sample, no pod-level metrics; no containers, no container metrics", () => {
    const p = podMetrics({ pod, image: "", containers: [] });
    assert.deepEqual(p, { podSandboxId: pod.id, metrics: [], containerMetrics: [] });
  });
  it("a container's cgroup, record and layer, labelled with its id, name, image, pod and CRI name", () => {
    const [c] = podMetrics(sample()).containerMetrics;
    assert.equal(c?.containerId, "c".repeat(64));
    const m = c?.metrics ?? [];
    const base = ["c".repeat(64), "k8s_app_web_shop_uid-1_0", "busybox:1", "shop", "web", "app"];
    const cpu = only(m, "container_cpu_usage_seconds_total");
    assert.deepEqual(cpu.labelValues, [...base, "total"]);
    assert.equal(cpu.kind, "counter");
    assert.equal(cpu.value, 3n, "whole seconds, truncated, as CRI-O gives them");
    assert.equal(cpu.timestampNs, T);
    const gauge = (name: string): bigint => {
      const x = only(m, name);
      assert.equal(x.kind, "gauge", name);
      assert.deepEqual(x.labelValues, base, name);
      return x.value;
    };
    assert.equal(gauge("container_memory_usage_bytes"), 10_000n);
    assert.equal(gauge("container_memory_working_set_bytes"), 8_000n);
    assert.equal(gauge("container_memory_rss"), 6_000n);
    assert.equal(gauge("container_memory_cache"), 3_000n);
    assert.equal(gauge("container_memory_mapped_file"), 1_000n);
    assert.equal(gauge("container_processes"), 3n);
    assert.equal(gauge("container_last_seen"), T / 1_000_000_000n);
    assert.equal(gauge("container_start_time_seconds"), 1704067205n, "startedAt, in whole seconds");
    assert.equal(gauge("container_fs_usage_bytes"), 2_097_152n);
    assert.equal(only(m, "container_fs_usage_bytes").timestampNs, T + 5n, "the layer's own reading time");
    assert.equal(gauge("container_spec_memory_limit_bytes"), 0n, "no limit is 0, as cAdvisor and CRI-O give it");
    const oom = only(m, "container_oom_events_total");
    assert.equal(oom.kind, "counter");
    assert.equal(oom.value, 1n);
    const failures = m.filter((x) => x.name === "container_memory_failures_total").map((x) => [...x.labelValues.slice(base.length), x.value]);
    assert.deepEqual(failures, [
      ["pgfault", "container", 77n],
      ["pgfault", "hierarchy", 77n],
      ["pgmajfault", "container", 5n],
      ["pgmajfault", "hierarchy", 5n],
    ]);
  });
  it("spec metrics only where a resource is set (0 is the kernel's default, not a value), the memory limit always", () => {
    const unset = byName(podMetrics(sample()).containerMetrics[0]?.metrics ?? []);
    assert.equal(unset.has("container_spec_cpu_quota"), false);
    assert.equal(unset.has("container_spec_cpu_period"), false);
    assert.equal(unset.has("container_spec_cpu_shares"), false);
    const set = podMetrics(
      sample({ containers: [metered({ rec: container({ memoryLimitBytes: 1 << 26, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, cpuShares: 512 }) })] }),
    );
    const m = set.containerMetrics[0]?.metrics ?? [];
    assert.equal(only(m, "container_spec_memory_limit_bytes").value, 67108864n);
    assert.equal(only(m, "container_spec_cpu_quota").value, 50_000n);
    assert.equal(only(m, "container_spec_cpu_period").value, 100_000n);
    assert.equal(only(m, "container_spec_cpu_shares").value, 512n);
  });
  it("what the host does not count is left out, not reported as 0", () => {
    const full = cgroup();
    const bare: CgroupStats = { timestampNs: full.timestampNs, cpu: full.cpu, memory: full.memory };
    const noLayer: MeteredContainer = { rec: container({ startedAt: "" }), cgroup: bare };
    const names = byName(podMetrics(sample({ containers: [noLayer] })).containerMetrics[0]?.metrics ?? []);
    for (const gone of ["container_processes", "container_oom_events_total", "container_fs_usage_bytes", "container_start_time_seconds"])
      assert.equal(names.has(gone), false, gone);
    assert.ok(names.has("container_cpu_usage_seconds_total"));
  });
  it("ignores loopback, veth, docker and nerdctl interfaces as cAdvisor does", () => {
    for (const n of ["lo", "veth1a2b", "docker0", "nerdctl0", "LO"]) assert.equal(ignoredInterface(n), true, n);
    for (const n of ["eth0", "net1", "cni0", "bond0"]) assert.equal(ignoredInterface(n), false, n);
    const onlyLo: NetDevCounters[] = parseNetDev(NET_DEV).filter((i) => i.name === "lo");
    assert.deepEqual(podMetrics(sample({ network: { timestampNs: T, interfaces: onlyLo } })).metrics, []);
  });
});
