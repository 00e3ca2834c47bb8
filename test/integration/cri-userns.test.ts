// Pod user namespaces through the CRI (the kubelet's hostUsers: false) on a
// real hulld, runc and the CNI plugins: the pod's own user namespace with
// the kubelet's mapping (gids apart from uids), pinned with its network,
// IPC and UTS namespaces so it owns them (its containers mount sysfs and
// mqueue of their own), every container and exec in it, the host seeing the
// mapped ids, nothing left pinned after removal; and the requests the CRI
// and the kubelet refuse.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, chown, link, lstat, mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ContainerState, LinuxContainerConfig, NamespaceMode, type LinuxPodSandboxConfig, type UserNamespace } from "../../src/gen/runtime/v1/api.js";
import { errorInfo } from "../helpers/api.js";
import { must } from "../helpers/fixtures.js";
import { BUSYBOX, containerConfig, podConfig, podLinux, until, type CriClient } from "../helpers/cri.js";
import { criSuite } from "../helpers/cri-suite.js";
import { makeTestNetwork } from "../helpers/cni-net.js";
import { shiftTree } from "../../src/images/shifted-layers.js";

const UIDS = { hostId: 200000, containerId: 0, length: 65536 };
const GIDS = { hostId: 300000, containerId: 0, length: 65536 };
const podUserns = (over: Partial<UserNamespace> = {}): UserNamespace => ({ mode: NamespaceMode.POD, uids: [UIDS], gids: [GIDS], ...over });
const podUsernsLinux = (usernsOptions: UserNamespace, network = NamespaceMode.POD): LinuxPodSandboxConfig => podLinux({ network, usernsOptions });
const ctrLinux = (usernsOptions: UserNamespace): LinuxContainerConfig =>
  LinuxContainerConfig.fromPartial({ securityContext: { namespaceOptions: { usernsOptions } } });

describe("CRI pod user namespaces", () => {
  const suite = criSuite("hull-cri-userns-", { network: makeTestNetwork, searchableRoot: true });
  const c = (): CriClient => suite.cri;

  const exec = async (id: string, cmd: string): Promise<string> => {
    const r = await c().execSync({ containerId: id, cmd: ["sh", "-c", cmd], timeout: 10n });
    assert.equal(r.exitCode, 0, `${cmd}: ${r.stderr.toString()}`);
    return r.stdout.toString();
  };
  const squeeze = (s: string): string[] =>
    s
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/).join(" "));

  it("Status reports user namespaces for both runtime handlers, and where state lives", async () => {
    const s = await c().status({ verbose: true });
    assert.deepEqual(
      s.runtimeHandlers.map((h) => [h.name, h.features?.userNamespaces]),
      [
        ["", true],
        ["runc", true],
      ],
    );
    const facts = JSON.parse(must(s.info.config, "info.config")) as Record<string, string>;
    assert.equal(facts.stateDir, suite.d.root);
    assert.match(facts.userNamespaces ?? "", /^supported/);
  });

  it("runs a pod in its own user namespace: containers and execs share it, own its network, and the host sees the mapped ids", async () => {
    const config = podConfig({
      hostname: "userns-pod",
      linux: podUsernsLinux(podUserns()),
    });
    const { id: podSandboxId } = await suite.pod(config);
    const status = await c().podSandboxStatus({ podSandboxId, verbose: false });
    const ip = must(status.status?.network?.ip, "pod ip");
    const ctr = containerConfig(BUSYBOX, {
      command: ["sleep", "300"],
      linux: ctrLinux(podUserns()),
    });
    const { containerId } = await c().createContainer({ podSandboxId, config: ctr, sandboxConfig: config });
    await c().startContainer({ containerId });
    // The kubelet repeats the pod's mapping in the container; omitting it means the pod's all the same.
    const bare = await c().createContainer({ podSandboxId, config: containerConfig(BUSYBOX, { command: ["sleep", "300"] }), sandboxConfig: config });
    await c().startContainer({ containerId: bare.containerId });

    for (const id of [containerId, bare.containerId]) {
      assert.deepEqual(squeeze(await exec(id, "cat /proc/self/uid_map /proc/self/gid_map")), ["0 200000 65536", "0 300000 65536"]);
      assert.equal((await exec(id, "id -u; id -g")).trim(), "0\n0");
    }
    // One namespace for the pod: its containers' user, network and IPC namespaces are the same files.
    const nsOf = (id: string) => exec(id, "for n in user net ipc; do readlink /proc/self/ns/$n; done");
    assert.equal(await nsOf(containerId), await nsOf(bare.containerId));
    // The pod's user namespace owns its network and IPC namespaces: sysfs and mqueue are the container's own.
    const mounts = await exec(containerId, "cat /proc/self/mounts");
    assert.match(mounts, /^sysfs \/sys sysfs /m);
    assert.match(mounts, /^mqueue \/dev\/mqueue mqueue /m);
    assert.match(await exec(containerId, "ip -4 addr show eth0"), new RegExp(`inet ${ip.replace(/\./g, "\\.")}/`));
    // The image is container root's own (a shifted copy): it writes anywhere in its rootfs, and sees its files as root's.
    await exec(containerId, "touch /made-by-root && echo hi > /etc/motd && mkdir -p /var/lib/app");
    assert.deepEqual(squeeze(await exec(containerId, "stat -c '%u:%g %n' /bin/sh /etc /made-by-root")), ["0:0 /bin/sh", "0:0 /etc", "0:0 /made-by-root"]);
    // The pod's hostname is its own.
    assert.equal((await exec(containerId, "hostname")).trim(), "userns-pod");
    // From the host, container root is host uid 200000, gid 300000.
    const pid = JSON.parse(must((await c().containerStatus({ containerId, verbose: true })).info.info, "info")) as { pid: number };
    const hostStatus = await readFile(`/proc/${pid.pid}/status`, "utf8");
    assert.match(hostStatus, /^Uid:\s+200000\s/m);
    assert.match(hostStatus, /^Gid:\s+300000\s/m);

    await c().stopPodSandbox({ podSandboxId });
    await until("the container to exit with its pod", async () =>
      (await c().containerStatus({ containerId, verbose: false })).status?.state === ContainerState.CONTAINER_EXITED ? true : undefined,
    );
    await c().removePodSandbox({ podSandboxId });
    const left = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.includes(podSandboxId));
    assert.deepEqual(left, [], "no namespace of the pod stays pinned");
  });

  it("shifts a layer tree's owners by the mapping and keeps set-id bits, symlinks and hard links", async () => {
    const tree = join(suite.work, "shift-tree");
    await mkdir(join(tree, "etc"), { recursive: true });
    await writeFile(join(tree, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
    await writeFile(join(tree, "su"), "#!/bin/sh\n", { mode: 0o755 });
    await chown(join(tree, "su"), 0, 42);
    await chmod(join(tree, "su"), 0o4755);
    await writeFile(join(tree, "mine"), "");
    await chown(join(tree, "mine"), 1000, 1000);
    await writeFile(join(tree, "far"), "");
    await chown(join(tree, "far"), 70000, 70000);
    await symlink("etc/passwd", join(tree, "link"));
    await link(join(tree, "mine"), join(tree, "mine-too"));
    // The kubelet's kind of range: it starts inside itself (host 1000 is also container id 1000).
    await shiftTree(tree, { uid: { hostId: 1000, size: 100000 }, gid: { hostId: 300000, size: 65536 } });
    const owner = async (p: string): Promise<string> => {
      const st = await lstat(join(tree, p));
      return `${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}`;
    };
    assert.equal(await owner("."), "1000:300000:755");
    assert.equal(await owner("etc/passwd"), "1000:300000:644");
    assert.equal(await owner("su"), "1000:300042:4755", "chown cleared setuid; it is put back");
    assert.equal(await owner("mine"), "2000:301000:644", "a hard link is shifted once, not twice");
    assert.equal(await owner("far"), "71000:70000:644");
    assert.equal((await lstat(join(tree, "link"))).uid, 1000);
    assert.equal(await readlink(join(tree, "link")), "etc/passwd");
  });

  it("refuses what the CRI and the kubelet refuse, naming the field", async () => {
    const refused = async (usernsOptions: UserNamespace, field: string, hostNetwork = false): Promise<void> => {
      const config = podConfig({ linux: podUsernsLinux(usernsOptions, hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD) });
      await assert.rejects(c().runPodSandbox({ config, runtimeHandler: "" }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
        assert.equal(errorInfo(err)?.metadata.field, field, err.message);
        return true;
      });
    };
    const at = "config.linux.security_context.namespace_options";
    await refused(podUserns({ uids: [UIDS, { hostId: 400000, containerId: 0, length: 10 }] }), `${at}.userns_options.uids`);
    await refused(podUserns({ gids: [{ ...GIDS, containerId: 1 }] }), `${at}.userns_options.gids[0].container_id`);
    await refused(podUserns({ uids: [] }), `${at}.userns_options.uids`);
    await refused(podUserns({ uids: [{ hostId: 0xfffffff0, containerId: 0, length: 65536 }] }), `${at}.userns_options.uids[0].length`);
    await refused({ mode: NamespaceMode.CONTAINER, uids: [], gids: [] }, `${at}.userns_options.mode`);
    await refused({ mode: NamespaceMode.TARGET, uids: [], gids: [] }, `${at}.userns_options.mode`);
    await refused({ mode: NamespaceMode.NODE, uids: [UIDS], gids: [GIDS] }, `${at}.userns_options.uids`);
    await refused(podUserns(), `${at}.network`, true);

    // A container asking for another mapping than its pod's, or for the host's, is refused: it shares namespaces the pod's owns.
    const config = podConfig({ linux: podUsernsLinux(podUserns()) });
    const { id: podSandboxId } = await suite.pod(config);
    for (const usernsOptions of [podUserns({ uids: [{ ...UIDS, hostId: 500000 }] }), { mode: NamespaceMode.NODE, uids: [], gids: [] }]) {
      const ctr = containerConfig(BUSYBOX, { linux: ctrLinux(usernsOptions) });
      await assert.rejects(c().createContainer({ podSandboxId, config: ctr, sandboxConfig: config }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
        assert.match(err.message, /user namespace, its pod/);
        return true;
      });
    }
    assert.deepEqual((await c().listContainers({ filter: { id: "", podSandboxId, labelSelector: {} } })).containers, []);
  });
});
