// The CRI's pods and containers on a real hulld, runc, conmon and the CNI
// plugins, through a client generated from the proto: a pod on a bridge
// network made for this file (ipMasq off, no route out: pods reach only
// each other and the bridge's host end), its infra container, containers
// joining its namespaces, logs where the kubelet expects them, idempotent
// stops and removes, a second pod fetching the first's httpd by pod IP and
// through a hostPort, hull.v1 seeing the CRI's containers, and CNI CHECK's
// outcome in the verbose status and after a restart.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { execa } from "execa";
import { runHull } from "../helpers/cli.js";
import { CgroupDriver, ContainerState, NamespaceMode, PodSandboxState } from "../../src/gen/runtime/v1/api.js";
import { errorInfo } from "../helpers/api.js";
import { must } from "../helpers/fixtures.js";
import { BUSYBOX, PAUSE, containerConfig, podConfig, podLinux, until, type CriClient } from "../helpers/cri.js";
import { criSuite, type CriPod } from "../helpers/cri-suite.js";
import { makeTestNetwork, natRulesFor } from "../helpers/cni-net.js";

describe("CRI pods and containers", () => {
  const suite = criSuite("hull-cri-pods-", { network: makeTestNetwork });
  const c = (): CriClient => suite.cri;

  const exec = async (id: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> => {
    const r = await c().execSync({ containerId: id, cmd, timeout: 10n });
    return { exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };

  /** An HTTP GET from inside a container with busybox nc (busybox-static's wget crashes on this glibc). */
  const httpGet = (id: string, host: string, port: number): Promise<{ exitCode: number; stdout: string; stderr: string }> =>
    exec(id, ["sh", "-c", `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`]);

  const runPod = (over: Parameters<typeof podConfig>[0] = {}): Promise<CriPod> => suite.pod(podConfig(over));

  async function runContainer(podId: string, pod: ReturnType<typeof podConfig>, over: Parameters<typeof containerConfig>[1] = {}): Promise<string> {
    const { containerId } = await c().createContainer({ podSandboxId: podId, config: containerConfig(BUSYBOX, over), sandboxConfig: pod });
    await c().startContainer({ containerId });
    return containerId;
  }

  it("reports the runtime and the network ready, the host's features, and cgroupfs", async () => {
    const s = await c().status({ verbose: true });
    assert.deepEqual(
      s.status?.conditions.map((x) => [x.type, x.status]),
      [
        ["RuntimeReady", true],
        ["NetworkReady", true],
      ],
    );
    assert.equal(s.features?.supplementalGroupsPolicy, true);
    assert.ok(s.runtimeHandlers.some((h) => h.name === "" && h.features?.recursiveReadOnlyMounts === true));
    const facts = JSON.parse(s.info.config ?? "{}") as Record<string, string>;
    assert.match(facts.oomScoreAdj ?? "", /oom_score_adj/);
    assert.equal((await c().runtimeConfig({})).linux?.cgroupDriver, CgroupDriver.CGROUPFS);
  });

  it("runs a pod with its own IP, hostname and DNS; its container logs where the kubelet reads; stop and remove are idempotent", async () => {
    const logDir = join(suite.work, "logs", "p1");
    const { id, config } = await runPod({
      hostname: "web-1",
      logDirectory: logDir,
      dnsConfig: { servers: ["10.217.0.53"], searches: ["svc.test"], options: ["ndots:5"] },
      labels: { app: "web" },
      annotations: { "a/b": "c d" },
    });
    const st = must((await c().podSandboxStatus({ podSandboxId: id, verbose: false })).status, "pod status");
    assert.equal(st.state, PodSandboxState.SANDBOX_READY);
    assert.deepEqual(st.labels, { app: "web" });
    assert.deepEqual(st.annotations, { "a/b": "c d" });
    const ip = st.network?.ip ?? "";
    assert.ok(ip.startsWith(suite.net.subnet.split(".").slice(0, 3).join(".")), ip);
    const ctr = await runContainer(id, config, { command: ["sh", "-c", "echo out; echo err >&2; exec sleep 1000"], logPath: "c1.log", labels: { tier: "x" } });
    assert.equal((await exec(ctr, ["hostname"])).stdout.trim(), "web-1");
    const resolv = (await exec(ctr, ["cat", "/etc/resolv.conf"])).stdout;
    assert.match(resolv, /nameserver 10\.217\.0\.53/);
    assert.match(resolv, /search svc\.test/);
    assert.match((await exec(ctr, ["cat", "/etc/hosts"])).stdout, new RegExp(`${ip.replaceAll(".", "\\.")}\\s+web-1`));
    assert.match((await exec(ctr, ["ip", "-o", "-4", "addr", "show", "eth0"])).stdout, new RegExp(ip.replaceAll(".", "\\.")));
    // CRI log format, as conmon's k8s-file writes it: TIMESTAMP STREAM P|F MESSAGE.
    const log = await until("the container's log lines", async () => {
      const text = await readFile(join(logDir, "c1.log"), "utf8").catch(() => "");
      return text.includes(" stderr F err") && text.includes(" stdout F out") ? text : undefined;
    });
    assert.match(log, /^\d{4}-\d\d-\d\dT\S+ stdout F out$/m);
    const status = must((await c().containerStatus({ containerId: ctr, verbose: false })).status, "status");
    assert.equal(status.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(status.logPath, join(logDir, "c1.log"));
    assert.deepEqual(status.labels, { tier: "x" });
    assert.ok(status.startedAt > 1_000_000_000_000_000_000n, `nanoseconds: ${status.startedAt}`);
    const listed = (await c().listContainers({ filter: { id: "", podSandboxId: id, labelSelector: { tier: "x" } } })).containers;
    assert.deepEqual(
      listed.map((x) => x.id),
      [ctr],
    );
    // timeout 0 kills at once: SIGKILL is 137, "Error".
    await c().stopContainer({ containerId: ctr, timeout: 0n });
    const stopped = must((await c().containerStatus({ containerId: ctr, verbose: false })).status, "status");
    assert.equal(stopped.state, ContainerState.CONTAINER_EXITED);
    assert.equal(stopped.exitCode, 137);
    assert.equal(stopped.reason, "Error");
    await c().stopContainer({ containerId: ctr, timeout: 0n });
    await c().removeContainer({ containerId: ctr });
    await c().removeContainer({ containerId: ctr });
    await c().stopPodSandbox({ podSandboxId: id });
    assert.equal((await c().podSandboxStatus({ podSandboxId: id, verbose: false })).status?.state, PodSandboxState.SANDBOX_NOTREADY);
    await c().stopPodSandbox({ podSandboxId: id });
    await c().removePodSandbox({ podSandboxId: id });
    await c().removePodSandbox({ podSandboxId: id });
    for (const unknown of ["0".repeat(64), "no-such-pod-4a7449ba-ee35"]) {
      await c().stopPodSandbox({ podSandboxId: unknown });
      await c().removePodSandbox({ podSandboxId: unknown });
      await c().stopContainer({ containerId: unknown, timeout: 0n });
      await c().removeContainer({ containerId: unknown });
      await assert.rejects(c().podSandboxStatus({ podSandboxId: unknown, verbose: false }), (e: unknown) => errorInfo(e).code === grpc.status.NOT_FOUND);
      await assert.rejects(c().containerStatus({ containerId: unknown, verbose: false }), (e: unknown) => errorInfo(e).code === grpc.status.NOT_FOUND);
    }
    assert.deepEqual(await suite.net.reservedIps(), []);
  });

  it("a pod reaches another pod's httpd by pod IP and through a hostPort on the bridge", async () => {
    const hostPort = 20000 + Math.floor(Math.random() * 20000);
    const a = await runPod({ portMappings: [{ protocol: 0, containerPort: 8080, hostPort, hostIp: "" }] });
    const server = await runContainer(a.id, a.config, {
      command: ["sh", "-c", "mkdir -p /www && echo it-works > /www/index.html && exec httpd -f -p 8080 -h /www"],
    });
    const b = await runPod();
    const client = await runContainer(b.id, b.config, { command: ["sleep", "1000"] });
    const ipA = must((await c().podSandboxStatus({ podSandboxId: a.id, verbose: false })).status?.network?.ip, "pod A ip");
    const fetched = await until("httpd by pod IP", async () => {
      const r = await httpGet(client, ipA, 8080);
      return r.stdout.includes("200 OK") ? r.stdout : undefined;
    });
    assert.match(fetched, /\r\n\r\nit-works\n$/);
    // portmap DNATs the host's addresses: the bridge's host end is one the pods may reach.
    const viaHostPort = await httpGet(client, suite.net.gateway, hostPort);
    assert.match(viaHostPort.stdout, /\r\n\r\nit-works\n$/, viaHostPort.stderr);
    assert.ok((await natRulesFor([a.id])).length > 0, "portmap rules for pod A");
    for (const p of [a.id, b.id]) await c().removePodSandbox({ podSandboxId: p });
    assert.deepEqual(await natRulesFor([a.id, b.id]), []);
    assert.equal(server.length, 64);
  });

  it("gives a pod's containers one /dev/shm (a 64 MiB tmpfs), gone with the pod; a host-IPC pod's containers get the host's", async () => {
    const { id, config } = await runPod();
    const a = await runContainer(id, config, { command: ["sleep", "300"] });
    const b = await runContainer(id, config, { command: ["sleep", "300"] });
    assert.equal((await exec(a, ["sh", "-c", "echo shared > /dev/shm/seg"])).exitCode, 0);
    assert.equal((await exec(b, ["cat", "/dev/shm/seg"])).stdout, "shared\n");
    const df = await exec(b, ["sh", "-c", "grep ' /dev/shm ' /proc/self/mounts"]);
    assert.match(df.stdout, /^shm \/dev\/shm tmpfs .*size=65536k/m);
    const shm = join(suite.d.root, "pods", id, "shm");
    assert.ok((await readFile("/proc/self/mountinfo", "utf8")).includes(` ${shm} `));
    await c().stopPodSandbox({ podSandboxId: id });
    assert.ok(!(await readFile("/proc/self/mountinfo", "utf8")).includes(` ${shm} `), "stopping the pod unmounts its /dev/shm");
    await c().removePodSandbox({ podSandboxId: id });

    const hostIpc = await runPod({ linux: podLinux({ ipc: NamespaceMode.NODE }) });
    const h = await runContainer(hostIpc.id, hostIpc.config, { command: ["sleep", "300"] });
    const marker = `hull-test-${process.pid}-${Date.now()}`;
    await writeFile(join("/dev/shm", marker), "host\n");
    try {
      assert.equal((await exec(h, ["cat", `/dev/shm/${marker}`])).stdout, "host\n");
    } finally {
      await rm(join("/dev/shm", marker), { force: true });
    }
    // The 50-pod test below counts every pin left: none of this test's may be.
    await c().stopPodSandbox({ podSandboxId: hostIpc.id });
    await c().removePodSandbox({ podSandboxId: hostIpc.id });
  });

  it("shows CRI containers in hull.v1 with their pod's name and namespace", async () => {
    const p = await runPod();
    const ctr = await runContainer(p.id, p.config, { command: ["sh", "-c", "echo from-cri; exec sleep 1000"] });
    const listed = (await suite.d.api.listContainers({})).containers.find((x) => x.id === ctr);
    assert.equal(listed?.config?.pod?.name, p.config.metadata?.name);
    assert.equal(listed?.config?.pod?.namespace, p.config.metadata?.namespace);
    const infra = (await suite.d.api.listContainers({})).containers.find((x) => x.config?.pod?.id === p.id && x.config.pod.infra);
    const ps = await runHull(suite.d.socket, ["ps"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout.split("\n")[0] ?? "", /RESTARTS\s+POD\s+NAMESPACE$/);
    const row = ps.stdout.split("\n").find((l) => l.startsWith(ctr.slice(0, 12))) ?? "";
    assert.ok(row.includes(must(p.config.metadata, "metadata").name) && row.includes(must(p.config.metadata, "metadata").namespace), row);
    const logs = await runHull(suite.d.socket, ["logs", ctr]);
    assert.equal(logs.stdout, "from-cri\n", logs.stderr);
    const inspect = await runHull(suite.d.socket, ["inspect", ctr]);
    assert.match(inspect.stdout, /"podSandboxId"|"pod":/);
    assert.ok(infra, "the pod's infra container (a shared PID namespace)");
    const pause = (await c().imageStatus({ image: { image: PAUSE, annotations: {}, userSpecifiedImage: "", runtimeHandler: "" }, verbose: false })).image;
    assert.equal(pause?.pinned, true, "the pause image is pinned against the kubelet's image GC");
    // The container's PID namespace is the infra process's: it sees the pause loop.
    assert.match((await exec(ctr, ["ps", "-o", "args"])).stdout, /trap 'exit 0' TERM/);
    await c().removePodSandbox({ podSandboxId: p.id });
    await assert.rejects(c().containerStatus({ containerId: ctr, verbose: false }), (e: unknown) => errorInfo(e).code === grpc.status.NOT_FOUND);
  });

  it("keeps a ready pod across a hulld restart, and stops one whose namespaces vanished meanwhile", async () => {
    const kept = await runPod();
    const ctr = await runContainer(kept.id, kept.config, { command: ["sleep", "1000"] });
    const lost = await runPod();
    const lostIp = must((await c().podSandboxStatus({ podSandboxId: lost.id, verbose: false })).status?.network?.ip, "ip");
    const daemon = suite.d;
    await daemon.stop();
    // What a reboot does to the run root: the pins are gone.
    for (const kind of ["net", "ipc", "uts"]) await execa("umount", ["--lazy", join(daemon.runRoot, "pods", lost.id, kind)]);
    await daemon.restart();
    const keptStatus = (await c().podSandboxStatus({ podSandboxId: kept.id, verbose: false })).status;
    assert.equal(keptStatus?.state, PodSandboxState.SANDBOX_READY);
    assert.equal((await exec(ctr, ["echo", "alive"])).stdout.trim(), "alive");
    assert.equal((await c().podSandboxStatus({ podSandboxId: lost.id, verbose: false })).status?.state, PodSandboxState.SANDBOX_NOTREADY);
    assert.equal((await suite.net.reservedIps()).includes(lostIp), false, "its address was freed");
    for (const p of [kept.id, lost.id]) await c().removePodSandbox({ podSandboxId: p });
  });

  /** PodSandboxStatus' verbose networkCheck (CNI CHECK's outcome), as crictl inspectp shows it. */
  const verboseCheck = async (id: string): Promise<{ networkCheck?: string; networkCheckedAt?: string; networkCheckedBy?: string }> =>
    JSON.parse((await c().podSandboxStatus({ podSandboxId: id, verbose: true })).info.info ?? "{}") as {
      networkCheck?: string;
      networkCheckedAt?: string;
      networkCheckedBy?: string;
    };
  const networkCheck = async (id: string): Promise<string> => (await verboseCheck(id)).networkCheck ?? "(none)";
  /** An outcome that is not a failure is reused for up to a second (network-check.ts): a failure shows once it has passed. */
  const networkCheckFailure = (id: string): Promise<string> =>
    until("CHECK to see the pod's broken attachment", async () => {
      const text = await networkCheck(id);
      return text === "ok" ? undefined : text;
    });
  /** What a host's admin (or a stray agent) does to a pod: its eth0 loses the address CNI ADD gave it. */
  const flushPodAddress = (id: string) => execa("nsenter", [`--net=${join(suite.d.runRoot, "pods", id, "net")}`, "ip", "addr", "flush", "dev", "eth0"]);

  it("says in the verbose status whether CNI CHECK passes: ok, the failing plugin once the attachment is broken, skipped on the host network", async () => {
    const p = await runPod();
    const first = await verboseCheck(p.id);
    assert.equal(first.networkCheck, "ok");
    // RunPodSandbox's ADD stands for a CHECK for a second; after that a CHECK runs. Either way the outcome says when and what saw it.
    assert.ok(first.networkCheckedBy === "ADD" || first.networkCheckedBy === "CHECK", String(first.networkCheckedBy));
    assert.ok(Number.isFinite(Date.parse(first.networkCheckedAt ?? "")), String(first.networkCheckedAt));
    await flushPodAddress(p.id);
    assert.match(
      await networkCheckFailure(p.id),
      new RegExp(
        `^failed: CNI CHECK of pod \\S+ \\(${p.id.slice(0, 12)}\\) on network hull-test-\\w+: plugin bridge failed: Failed to match addr 10\\.217\\.\\d+\\.\\d+/24 on interface eth0`,
      ),
    );
    // Reported, never acted on: the pod stays ready, and the plain status (the kubelet's poll) runs no plugin.
    const plain = await c().podSandboxStatus({ podSandboxId: p.id, verbose: false });
    assert.equal(plain.status?.state, PodSandboxState.SANDBOX_READY);
    assert.deepEqual(plain.info, {});
    const host = await runPod({ linux: podLinux({ network: NamespaceMode.NODE }) });
    assert.match(await networkCheck(host.id), /^skipped: the pod is on the host's network/);
    await c().stopPodSandbox({ podSandboxId: host.id });
    await c().stopPodSandbox({ podSandboxId: p.id });
    assert.match(await networkCheck(p.id), /^skipped: the pod is not ready/);
    for (const id of [p.id, host.id]) await c().removePodSandbox({ podSandboxId: id });
  });

  it("reports portmap 1.1.1's CHECK of a hostPort pod as it is: a false failure on its ip6tables chain (plugins#819)", async () => {
    const hostPort = 20000 + Math.floor(Math.random() * 20000);
    const p = await runPod({ portMappings: [{ protocol: 0, containerPort: 8080, hostPort, hostIp: "" }] });
    // bridge passed (portmap runs after it); the IPv4 rules ADD made are all there, portmap looks for IPv6 ones ADD never made.
    assert.ok((await natRulesFor([p.id])).length > 0, "portmap's IPv4 rules");
    assert.match(
      await networkCheckFailure(p.id),
      /^failed: CNI CHECK of pod .* plugin portmap failed: could not check ipv6 dnat: chain CNI-DN-\w+ not found in iptables table nat \(code 999\) \[portmap's known false failure .*plugins#819/,
    );
    await c().removePodSandbox({ podSandboxId: p.id });
  });

  it("CHECKs the kept pods' networks after a hulld restart and warns about a broken one, leaving it ready", async () => {
    const broken = await runPod();
    const fine = await runPod();
    const daemon = suite.d;
    await daemon.stop();
    await flushPodAddress(broken.id);
    await daemon.restart();
    const warning = await until("the CHECK warning", async () =>
      daemon
        .output()
        .split("\n")
        .find((l) => l.includes(broken.id) && l.includes("CNI CHECK failed")),
    );
    assert.match(warning, /plugin bridge failed: Failed to match addr/);
    assert.ok(
      !daemon
        .output()
        .split("\n")
        .some((l) => l.includes(fine.id) && l.includes("CNI CHECK failed")),
      "the intact pod passed",
    );
    assert.equal((await c().podSandboxStatus({ podSandboxId: broken.id, verbose: false })).status?.state, PodSandboxState.SANDBOX_READY);
    for (const p of [broken.id, fine.id]) await c().removePodSandbox({ podSandboxId: p });
  });

  it("runs 50 pods and leaves no address, veth, nat rule or namespace behind", async () => {
    const ids: string[] = [];
    const before = (await suite.net.reservedIps()).length;
    for (let i = 0; i < 50; i++) {
      // Half with an infra container (shared PID namespace), half without (CRI-O's drop-infra).
      const pid = i % 2 === 0 ? NamespaceMode.POD : NamespaceMode.CONTAINER;
      const p = await runPod({
        portMappings: i % 5 === 0 ? [{ protocol: 0, containerPort: 80, hostPort: 41000 + i, hostIp: "" }] : [],
        linux: {
          cgroupParent: "",
          sysctls: {},
          securityContext: {
            namespaceOptions: { network: NamespaceMode.POD, pid, ipc: NamespaceMode.POD, targetId: "" },
            readonlyRootfs: false,
            supplementalGroups: [],
            supplementalGroupsPolicy: 0,
            privileged: false,
            seccompProfilePath: "",
          },
        },
      });
      ids.push(p.id);
      if (i % 10 === 0) await runContainer(p.id, p.config, { command: ["sleep", "1000"] });
    }
    assert.equal((await suite.net.reservedIps()).length, before + 50);
    for (const id of ids) {
      await c().stopPodSandbox({ podSandboxId: id });
      await c().removePodSandbox({ podSandboxId: id });
    }
    const n = suite.net;
    assert.equal((await n.reservedIps()).length, before);
    if (before === 0) assert.deepEqual(await n.veths(), []);
    assert.deepEqual(await natRulesFor(ids), []);
    const nsDir = join(suite.d.runRoot, "pods");
    for (const id of ids) await assert.rejects(stat(join(nsDir, id)), "namespace dir removed");
    const mounts = await readFile("/proc/self/mountinfo", "utf8");
    assert.equal(mounts.includes(nsDir), false, "no pinned namespace left mounted");
    assert.deepEqual(
      (await c().listPodSandbox({})).items.filter((p) => ids.includes(p.id)),
      [],
    );
  });
});
