// The CRI metrics (ListMetricDescriptors, ListPodSandboxMetrics) of a real
// pod, as the kubelet's PodAndContainerStatsFromCRI reads them: a pod on a
// bridge network made for this file (its own network namespace, so the
// interface counters are the pod's), with an infra container (a shared PID
// namespace), a busy container and an idle one; every metric described,
// labelled with its container, and plausible; stopped containers and pods
// left out.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { MetricType, NamespaceMode, type Metric, type PodSandboxMetrics } from "../../src/gen/runtime/v1/api.js";
import { must } from "../helpers/fixtures.js";
import { BUSYBOX, PAUSE, containerConfig, podConfig, podLinux, until, type CriClient } from "../helpers/cri.js";
import { criSuite } from "../helpers/cri-suite.js";
import { makeTestNetwork } from "../helpers/cni-net.js";

const NS_PER_MS = 1_000_000n;

describe("CRI metrics", () => {
  const suite = criSuite("hull-cri-metrics-", { network: makeTestNetwork });
  const c = (): CriClient => suite.cri;
  /** Label keys by metric name, from ListMetricDescriptors. */
  let keys = new Map<string, string[]>();

  before(async () => {
    keys = new Map((await c().listMetricDescriptors({})).descriptors.map((x) => [x.name, x.labelKeys]));
  });

  /** A metric's labels by key, checked against its descriptor. */
  function labels(m: Metric): Record<string, string> {
    const k = keys.get(m.name);
    assert.ok(k, `${m.name} has a descriptor`);
    assert.equal(m.labelValues.length, k.length, `${m.name}: one value per label key`);
    return Object.fromEntries(k.map((key, i) => [key, m.labelValues[i] ?? ""]));
  }

  const podMetrics = async (id: string): Promise<PodSandboxMetrics | undefined> =>
    (await c().listPodSandboxMetrics({})).podMetrics.find((p) => p.podSandboxId === id);

  const valueOf = (ms: readonly Metric[], name: string, where: Record<string, string> = {}): bigint | undefined =>
    ms.find((m) => m.name === name && Object.entries(where).every(([k, v]) => labels(m)[k] === v))?.value?.value;

  it("describes each metric once, cAdvisor-named, with the base labels and CRI-O's extra keys", () => {
    assert.ok(keys.size > 0);
    for (const [name, k] of keys) {
      assert.match(name, /^container_/);
      assert.deepEqual(k.slice(0, 6), ["id", "name", "image", "namespace", "pod", "container"], name);
    }
    assert.deepEqual(keys.get("container_cpu_usage_seconds_total")?.slice(6), ["cpu"]);
    assert.deepEqual(keys.get("container_network_transmit_packets_total")?.slice(6), ["interface"]);
  });

  it("gives a running pod's network at the pod level and each running container's cgroup, described and labelled; stopped ones are left out", async () => {
    const started = BigInt(Date.now()) * NS_PER_MS;
    const config = podConfig({ linux: podLinux({ pid: NamespaceMode.POD }) });
    const { id: podId } = await suite.pod(config);
    const run = async (name: string, command: string[]): Promise<string> => {
      const cfg = containerConfig(BUSYBOX, { metadata: { name, attempt: 0 }, command });
      const { containerId } = await c().createContainer({ podSandboxId: podId, config: cfg, sandboxConfig: config });
      await c().startContainer({ containerId });
      return containerId;
    };
    // Memory and a file in the writable layer, a few packets out of eth0 (to
    // the bridge's host end, where nothing listens), then a busy loop.
    const gateway = suite.net.gateway;
    const busy = await run("busy", ["sh", "-c", `dd if=/dev/zero of=/tmp/fill bs=1M count=8; nc -w 1 ${gateway} 9 </dev/null; while :; do :; done`]);
    const idle = await run("idle", ["sleep", "1000"]);

    // CPU time is in whole seconds (the CRI's integers, as CRI-O gives it): the loop needs a second.
    const first = await until(
      "a second of CPU, the layer's 8 MiB and packets out of eth0",
      async () => {
        const p = await podMetrics(podId);
        const b = p?.containerMetrics.find((x) => x.containerId === busy)?.metrics ?? [];
        const cpu = valueOf(b, "container_cpu_usage_seconds_total", { cpu: "total" }) ?? 0n;
        const fs = valueOf(b, "container_fs_usage_bytes") ?? 0n;
        const tx = valueOf(p?.metrics ?? [], "container_network_transmit_packets_total", { interface: "eth0" }) ?? 0n;
        return p && cpu >= 1n && fs >= 8n << 20n && tx > 0n ? p : undefined;
      },
      30_000,
    );
    const now = BigInt(Date.now()) * NS_PER_MS;

    // Every metric is described, with one label value per key, and timed in nanoseconds of now.
    const all = [...first.metrics, ...first.containerMetrics.flatMap((x) => x.metrics)];
    for (const m of all) {
      labels(m);
      assert.ok(m.timestamp >= started - 1000n * NS_PER_MS && m.timestamp <= now + 1000n * NS_PER_MS, `${m.name} timestamp ${m.timestamp} in ns`);
    }

    // The pod level: its network namespace's interfaces, loopback left out as cAdvisor does; labelled as the POD.
    assert.ok(first.metrics.length > 0);
    for (const m of first.metrics) {
      const l = labels(m);
      assert.match(m.name, /^container_network_/);
      assert.equal(m.metricType, MetricType.COUNTER);
      assert.deepEqual([l.id, l.container, l.pod, l.namespace, l.image], [podId, "POD", config.metadata?.name, config.metadata?.namespace, PAUSE]);
      assert.notEqual(l.interface, "lo");
    }
    assert.ok((valueOf(first.metrics, "container_network_transmit_bytes_total", { interface: "eth0" }) ?? 0n) > 0n);

    // The containers: the two running ones, the infra container being hull's.
    assert.deepEqual(new Set(first.containerMetrics.map((x) => x.containerId)), new Set([busy, idle]));
    for (const cm of first.containerMetrics) {
      const name = cm.containerId === busy ? "busy" : "idle";
      for (const m of cm.metrics) {
        const l = labels(m);
        assert.equal(l.id, cm.containerId, m.name);
        assert.equal(l.container, name, m.name);
        assert.match(l.name ?? "", new RegExp(`^k8s_${name}_${config.metadata?.name}_`), m.name);
        assert.deepEqual([l.pod, l.namespace, l.image], [config.metadata?.name, config.metadata?.namespace, BUSYBOX], m.name);
      }
      const ws = valueOf(cm.metrics, "container_memory_working_set_bytes") ?? 0n;
      assert.ok(ws > 0n, `${name}: working set ${ws}`);
      assert.ok((valueOf(cm.metrics, "container_memory_usage_bytes") ?? 0n) >= ws, `${name}: usage covers the working set`);
      assert.ok((valueOf(cm.metrics, "container_processes") ?? 0n) >= 1n, `${name}: processes`);
      const start = valueOf(cm.metrics, "container_start_time_seconds") ?? 0n;
      assert.ok(start >= started / 1_000_000_000n - 1n && start <= now / 1_000_000_000n, `${name}: started at ${start}`);
      assert.equal(cm.metrics.find((m) => m.name === "container_cpu_usage_seconds_total")?.metricType, MetricType.COUNTER);
      assert.equal(cm.metrics.find((m) => m.name === "container_memory_rss")?.metricType, MetricType.GAUGE);
    }

    // The busy container's counter grows.
    const cpuOf = (p: PodSandboxMetrics | undefined): bigint =>
      valueOf(p?.containerMetrics.find((x) => x.containerId === busy)?.metrics ?? [], "container_cpu_usage_seconds_total") ?? 0n;
    const before = cpuOf(first);
    await until("the CPU counter to grow", async () => (cpuOf(await podMetrics(podId)) > before ? true : undefined), 30_000);

    // A stopped container is left out, then the stopped pod.
    await c().stopContainer({ containerId: idle, timeout: 0n });
    const afterStop = must(await podMetrics(podId), "the pod's metrics");
    assert.deepEqual(
      afterStop.containerMetrics.map((x) => x.containerId),
      [busy],
    );
    await c().stopPodSandbox({ podSandboxId: podId });
    assert.equal(await podMetrics(podId), undefined, "a stopped pod has no metrics");
  });
});
