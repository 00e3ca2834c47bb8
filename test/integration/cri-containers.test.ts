// CRI containers proven from inside, on a hulld with no CNI network at all
// (host-network pods still run; the others are refused with the reason):
// security contexts (users and groups, capabilities, privileged, read-only
// root, no_new_privs, seccomp, masked paths, sysctls, oom_score_adj), stats
// from the cgroups, UpdateContainerResources on the live cgroup,
// ReopenContainerLog after a rotation, and GetContainerEvents.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, rename, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  ContainerEventType,
  NamespaceMode,
  SecurityProfile_ProfileType,
  type ContainerEventResponse,
  type PodSandboxConfig,
} from "../../src/gen/runtime/v1/api.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { errorInfo } from "../helpers/api.js";
import { must } from "../helpers/fixtures.js";
import { BUSYBOX, PAUSE, containerConfig, criClient, importTestImages, podConfig, podLinux, tearDownCri, until, type CriClient } from "../helpers/cri.js";

const hostNetwork = (over: Partial<PodSandboxConfig> = {}): PodSandboxConfig => podConfig({ linux: podLinux({ network: NamespaceMode.NODE }), ...over });

function statusField(status: string, key: string): string {
  return new RegExp(`^${key}:\\s*(\\S+)`, "m").exec(status)?.[1] ?? "";
}

describe("CRI containers from inside, stats, updates, logs and events", () => {
  let work = "";
  let emptyNetDir = "";
  let d: TestDaemon | undefined;
  let cri: CriClient | undefined;
  const c = (): CriClient => must(cri, "CRI client");
  const pods: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hull-cri-ctr-"));
    emptyNetDir = join(work, "no-net.d");
    const rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    d = await startTestDaemon({ env: { HULL_CNI_CONFIG_DIR: emptyNetDir, HULL_PAUSE_IMAGE: PAUSE } });
    await importTestImages(d.socket, work, rootfs);
    cri = criClient(d.socket);
  });

  after(() => tearDownCri(pods, cri, d, work));

  const exec = async (id: string, cmd: string[]): Promise<string> => {
    const r = await c().execSync({ containerId: id, cmd, timeout: 10n });
    return r.stdout.toString() + r.stderr.toString();
  };

  async function pod(config = hostNetwork()): Promise<{ id: string; config: PodSandboxConfig }> {
    const { podSandboxId } = await c().runPodSandbox({ config, runtimeHandler: "" });
    pods.push(podSandboxId);
    return { id: podSandboxId, config };
  }

  async function start(p: { id: string; config: PodSandboxConfig }, over: Parameters<typeof containerConfig>[1] = {}): Promise<string> {
    const { containerId } = await c().createContainer({
      podSandboxId: p.id,
      config: containerConfig(BUSYBOX, { command: ["sleep", "1000"], ...over }),
      sandboxConfig: p.config,
    });
    await c().startContainer({ containerId });
    return containerId;
  }

  it("without a CNI network: NetworkReady is false with the reason, host-network pods run, others are refused", async () => {
    const st = await c().status({ verbose: false });
    const network = st.status?.conditions.find((x) => x.type === "NetworkReady");
    assert.equal(network?.status, false);
    assert.equal(network?.reason, "NetworkPluginNotReady");
    assert.match(network?.message ?? "", new RegExp(emptyNetDir));
    await assert.rejects(c().runPodSandbox({ config: podConfig(), runtimeHandler: "" }), (e: unknown) => {
      const info = errorInfo(e);
      assert.equal(info.code, grpc.status.UNAVAILABLE, info.message);
      assert.match(info.message, /pod network is not ready/);
      return true;
    });
    const p = await pod();
    const ctr = await start(p);
    assert.match(await exec(ctr, ["cat", "/proc/net/dev"]), /lo:/);
    await assert.rejects(readdir(emptyNetDir), "hulld writes no network config of its own");
  });

  it("applies users, groups, capabilities, read-only root, no_new_privs, seccomp and masked paths", async () => {
    const p = await pod(hostNetwork({ linux: { ...hostNetwork().linux!, sysctls: { "kernel.shm_rmid_forced": "1" } } }));
    const sc = (over: object): Parameters<typeof containerConfig>[1] => ({
      linux: {
        resources: undefined,
        securityContext: {
          capabilities: undefined,
          privileged: false,
          readonlyRootfs: false,
          supplementalGroups: [],
          supplementalGroupsPolicy: 0,
          noNewPrivs: false,
          maskedPaths: [],
          readonlyPaths: [],
          runAsUsername: "",
          apparmorProfile: "",
          seccompProfilePath: "",
          ...over,
        },
      },
    });
    const confined = await start(
      p,
      sc({
        runAsUser: { value: 1234n },
        runAsGroup: { value: 5678n },
        supplementalGroups: [4242n],
        readonlyRootfs: true,
        noNewPrivs: true,
        seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: "" },
        capabilities: { addCapabilities: ["NET_BIND_SERVICE"], dropCapabilities: ["ALL"], addAmbientCapabilities: [] },
        maskedPaths: ["/etc/passwd"],
      }),
    );
    assert.equal((await exec(confined, ["id", "-u"])).trim(), "1234");
    assert.equal((await exec(confined, ["id", "-g"])).trim(), "5678");
    assert.match(await exec(confined, ["id", "-G"]), /\b4242\b/);
    const status = await exec(confined, ["cat", "/proc/self/status"]);
    // A non-root process keeps no effective capabilities; the bounding set is what the container got.
    assert.equal(statusField(status, "CapBnd"), "0000000000000400", "only NET_BIND_SERVICE (bit 10)");
    assert.equal(statusField(status, "NoNewPrivs"), "1");
    assert.equal(statusField(status, "Seccomp"), "2");
    assert.match(await exec(confined, ["touch", "/x"]), /Read-only file system/);
    assert.equal(await exec(confined, ["cat", "/etc/passwd"]), "", "masked");
    assert.equal((await exec(confined, ["cat", "/proc/sys/kernel/shm_rmid_forced"])).trim(), "1", "the pod's sysctl");
    const user = (await c().containerStatus({ containerId: confined, verbose: false })).status?.user?.linux;
    assert.deepEqual(user, { uid: 1234n, gid: 5678n, supplementalGroups: [5678n, 4242n] });

    const plain = await start(p, sc({}));
    const plainStatus = await exec(plain, ["cat", "/proc/self/status"]);
    assert.equal(statusField(plainStatus, "NoNewPrivs"), "0", "the CRI's default");
    assert.equal(statusField(plainStatus, "Seccomp"), "0", "no seccomp message is unconfined, as the kubelet means it");
    assert.equal(await exec(plain, ["cat", "/proc/timer_list"]), "", "hull's default masked paths");

    const privileged = await start(p, sc({ privileged: true }));
    const hostBounding = statusField(await readFile("/proc/self/status", "utf8"), "CapBnd");
    assert.equal(statusField(await exec(privileged, ["cat", "/proc/self/status"]), "CapEff"), hostBounding, "every capability hulld holds");
    assert.match(await exec(privileged, ["ls", "/dev"]), /\bkmsg\b/, "the host's devices");
    assert.match(await exec(privileged, ["cat", "/proc/timer_list"]), /Timer List/, "nothing masked");
  });

  it("clamps a lower oom_score_adj to hulld's own where the kernel refuses to lower it", async () => {
    const p = await pod();
    const own = Number((await readFile("/proc/self/oom_score_adj", "utf8")).trim());
    const res = (adj: bigint): Parameters<typeof containerConfig>[1] => ({
      linux: {
        securityContext: undefined,
        resources: {
          cpuPeriod: 0n,
          cpuQuota: 0n,
          cpuShares: 0n,
          memoryLimitInBytes: 0n,
          oomScoreAdj: adj,
          cpusetCpus: "",
          cpusetMems: "",
          hugepageLimits: [],
          unified: {},
          memorySwapLimitInBytes: 0n,
        },
      },
    });
    const raised = await start(p, res(500n));
    assert.equal((await exec(raised, ["cat", "/proc/self/oom_score_adj"])).trim(), "500");
    const lowered = await start(p, res(-500n));
    const seen = Number((await exec(lowered, ["cat", "/proc/self/oom_score_adj"])).trim());
    const info = JSON.parse((await c().status({ verbose: true })).info.config ?? "{}") as Record<string, string>;
    if (/lacks CAP_SYS_RESOURCE/.test(info.oomScoreAdj ?? "")) assert.equal(seen, Math.max(-500, own));
    else assert.equal(seen, -500);
  });

  it("reports stats from the cgroups, updates resources on the live cgroup, and reopens a rotated log", async () => {
    const logDir = join(work, "logs");
    const p = await pod(hostNetwork({ logDirectory: logDir }));
    const ctr = await start(p, {
      command: ["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=2; i=0; while :; do i=$((i+1)); echo line $i; sleep 0.2; done"],
      logPath: "busy.log",
    });
    const stats = await until("CPU and writable-layer usage", async () => {
      const s = (await c().containerStats({ containerId: ctr })).stats;
      return (s?.cpu?.usageCoreNanoSeconds?.value ?? 0n) > 0n && (s?.writableLayer?.usedBytes?.value ?? 0n) >= 2n * 1024n * 1024n ? s : undefined;
    });
    assert.ok((stats.memory?.workingSetBytes?.value ?? 0n) > 0n);
    const podStats = (await c().podSandboxStats({ podSandboxId: p.id })).stats;
    assert.deepEqual(
      podStats?.linux?.containers.map((x) => x.attributes?.id),
      [ctr],
    );
    assert.ok((podStats?.linux?.cpu?.usageCoreNanoSeconds?.value ?? 0n) >= (stats.cpu?.usageCoreNanoSeconds?.value ?? 0n));
    const listed = (await c().listContainerStats({ filter: { id: "", podSandboxId: p.id, labelSelector: {} } })).stats;
    assert.equal(listed.length, 1);

    await c().updateContainerResources({
      containerId: ctr,
      linux: {
        cpuPeriod: 100000n,
        cpuQuota: 50000n,
        cpuShares: 512n,
        memoryLimitInBytes: 64n << 20n,
        oomScoreAdj: 0n,
        cpusetCpus: "",
        cpusetMems: "",
        hugepageLimits: [],
        unified: {},
        memorySwapLimitInBytes: 0n,
      },
      annotations: {},
    });
    const memFile = `/sys/fs/cgroup/memory/hull/${ctr}/memory.limit_in_bytes`;
    assert.equal((await readFile(memFile, "utf8")).trim(), String(64 << 20));
    assert.equal((await readFile(`/sys/fs/cgroup/cpu/hull/${ctr}/cpu.cfs_quota_us`, "utf8")).trim(), "50000");
    const st = (await c().containerStatus({ containerId: ctr, verbose: false })).status;
    assert.equal(st?.resources?.linux?.memoryLimitInBytes, 64n << 20n);

    const log = join(logDir, "busy.log");
    await until("log lines", async () => ((await readFile(log, "utf8")).includes("line 2") ? true : undefined));
    await rename(log, `${log}.1`);
    await c().reopenContainerLog({ containerId: ctr });
    await access(log); // the new file is there when the call answers (critest looks at once)
    const fresh = await until("lines in the reopened log", async () => {
      const text = await readFile(log, "utf8").catch(() => "");
      return / stdout F line \d+/.test(text) ? text : undefined;
    });
    assert.doesNotMatch(fresh, / line 1$/m, "the new file starts after the rotation");
  });

  it("streams CREATED, STARTED, STOPPED and DELETED events with the pod's status", async () => {
    const events: ContainerEventResponse[] = [];
    const stream = c().runtime.getContainerEvents({});
    stream.on("data", (e: ContainerEventResponse) => events.push(e));
    stream.on("error", () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const p = await pod();
    const ctr = await start(p, { command: ["sh", "-c", "exit 3"] });
    await until("the exit", async () =>
      events.some((e) => e.containerId === ctr && e.containerEventType === ContainerEventType.CONTAINER_STOPPED_EVENT) ? true : undefined,
    );
    await c().removeContainer({ containerId: ctr });
    await until("the removal", async () =>
      events.some((e) => e.containerId === ctr && e.containerEventType === ContainerEventType.CONTAINER_DELETED_EVENT) ? true : undefined,
    );
    stream.cancel();
    const mine = events.filter((e) => e.containerId === ctr);
    assert.deepEqual(
      mine.map((e) => e.containerEventType),
      [
        ContainerEventType.CONTAINER_CREATED_EVENT,
        ContainerEventType.CONTAINER_STARTED_EVENT,
        ContainerEventType.CONTAINER_STOPPED_EVENT,
        ContainerEventType.CONTAINER_DELETED_EVENT,
      ],
    );
    assert.ok(mine.every((e) => e.podSandboxStatus?.id === p.id));
    assert.equal(mine.find((e) => e.containerEventType === ContainerEventType.CONTAINER_STOPPED_EVENT)?.containersStatuses[0]?.exitCode, 3);
    assert.equal(events.filter((e) => e.podSandboxStatus?.id === p.id && e.containerId !== ctr).length, 0, "the infra container is hull's, not the kubelet's");
  });
});
