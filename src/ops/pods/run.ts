// RunPodSandbox: a pod whose namespaces are pinned to files, not held by a
// process (CRI-O's "drop infra"), attached to the CNI network unless it
// uses the host's, with its hostname, hosts and resolv.conf written; an
// infra container (the pause image) only when its containers share one PID
// namespace, which must have a process. The record is saved first, so a
// pod cut short by a crash is found and torn down; a failure undoes every
// step already taken, leaving no namespace, address or directory behind.
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { hostname as hostHostname } from "node:os";
import { join } from "node:path";
import { NamespaceMode, PodSandboxConfig } from "../../gen/runtime/v1/api.js";
import type { PodNamespaceKind, PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { HullError, wrapError } from "../../errors.js";
import { hostsFile, podShmPath, resolvConf } from "../../domain/pod-files.js";
import { startInfraContainer } from "./infra.js";
import { tearDownPod } from "./teardown.js";
import { networkRequest } from "./network-request.js";
import { recordNetworkAttached } from "./network-check.js";
import { allSettledOrThrow } from "./settle.js";
import { criIdMappings } from "./userns.js";
import { userNamespacesSupport } from "../runtime-info.js";
import { checkSearchableByOthers } from "../../oci/userns-rootfs.js";

function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)).toString();
}

/** A pod with the same name, namespace, uid and attempt is the same pod: the kubelet's sandbox name must be unique. */
async function checkUnique(engine: Engine, meta: { name: string; namespace: string; uid: string; attempt: number }): Promise<void> {
  const same = (await engine.store.listPodRecords()).find(
    (p) => p.name === meta.name && p.namespace === meta.namespace && p.uid === meta.uid && p.attempt === meta.attempt,
  );
  if (same)
    throw new HullError("NAME_IN_USE", `pod sandbox ${meta.namespace}/${meta.name} (uid ${meta.uid}, attempt ${meta.attempt}) already exists as ${same.id}`, {
      pod: same.id,
    });
}

async function writePodFiles(pod: PodRecord, config: PodSandboxConfig, hostname: string): Promise<void> {
  await mkdir(pod.dir, { recursive: true, mode: 0o755 });
  await writeFile(join(pod.dir, "hostname"), `${hostname}\n`, { mode: 0o644 });
  if (pod.hostNetwork) {
    // The host's own name resolution, as a host-network pod has it (containerd copies both files too).
    await copyFile("/etc/hosts", join(pod.dir, "hosts"));
  } else {
    await writeFile(join(pod.dir, "hosts"), hostsFile(hostname, pod.network.ips), { mode: 0o644 });
  }
  const resolv = resolvConf(config.dnsConfig);
  if (resolv !== undefined) await writeFile(join(pod.dir, "resolv.conf"), resolv, { mode: 0o644 });
  else await copyFile("/etc/resolv.conf", join(pod.dir, "resolv.conf"));
}

/**
 * Whether the infra container must wait for the CNI ADD: a pod sysctl in
 * net.* may name the interface ADD makes (net.ipv4.conf.eth0.*), and runc
 * writes the pod's sysctls when it creates the infra container, so such a
 * pod keeps containerd 1.6's order (network, then sandbox container).
 */
export function infraWaitsForNetwork(config: PodSandboxConfig): boolean {
  return Object.keys(config.linux?.sysctls ?? {}).some((k) => k.startsWith("net."));
}

/** What RunPodSandbox does once the namespaces are pinned: CNI ADD and the pod's files on one side, its /dev/shm and infra container on the other. */
async function attachNetwork(engine: Engine, pod: PodRecord, config: PodSandboxConfig): Promise<PodRecord> {
  let out = pod;
  if (!pod.hostNetwork) {
    const attached = await engine.pods.network.setUp(networkRequest(pod));
    recordNetworkAttached(engine, pod.id);
    out = { ...pod, network: { name: attached.network, ips: attached.ips, interface: attached.interface } };
    await engine.store.writePodRecord(out);
  }
  await writePodFiles(out, config, out.hostname);
  return out;
}

async function mountShm(engine: Engine, pod: PodRecord): Promise<void> {
  if (pod.namespaces.ipc !== undefined) await engine.pods.pinner.mountShm(podShmPath(pod));
}

async function infra(engine: Engine, pod: PodRecord, config: PodSandboxConfig): Promise<string> {
  return pod.pidMode === "pod" ? startInfraContainer(engine, pod, config) : "";
}

/**
 * The network, the pod's /dev/shm and the infra container side by side:
 * the infra container joins the pinned namespace files, not the attachment,
 * and mounts none of the pod's files, so none waits for another (the
 * network and the infra container are each a chain of process starts:
 * bridge, host-local and portmap; conmon, runc create and runc start). All
 * are settled before the outcome is known, so a failure's undo finds every
 * step each took (the infra container is in the store under the pod's id
 * whether or not its id came back).
 */
async function attachAndStartInfra(engine: Engine, pod: PodRecord, config: PodSandboxConfig): Promise<PodRecord> {
  if (infraWaitsForNetwork(config)) {
    const attached = await attachNetwork(engine, pod, config);
    await mountShm(engine, attached);
    return { ...attached, infraContainerId: await infra(engine, attached, config) };
  }
  const [net, , infraId] = await allSettledOrThrow<[PodRecord, void, string]>(engine, pod.id, "RunPodSandbox", [
    attachNetwork(engine, pod, config),
    mountShm(engine, pod),
    infra(engine, pod, config),
  ]);
  return { ...net, infraContainerId: infraId };
}

export async function runPodSandbox(engine: Engine, config: PodSandboxConfig, runtimeHandler: string): Promise<PodRecord> {
  const meta = config.metadata;
  if (meta === undefined)
    throw new HullError("INVALID_ARGUMENT", "invalid config.metadata: a pod needs a name, namespace and uid", { field: "config.metadata" });
  await checkUnique(engine, meta);
  const ns = config.linux?.securityContext?.namespaceOptions;
  const hostNetwork = ns?.network === NamespaceMode.NODE;
  const hostIpc = ns?.ipc === NamespaceMode.NODE;
  const pidMode = ns?.pid === NamespaceMode.NODE ? "node" : ns?.pid === NamespaceMode.CONTAINER ? "container" : "pod";
  const idMappings = criIdMappings(ns?.usernsOptions);
  if (idMappings !== undefined) {
    const userns = await userNamespacesSupport();
    if (!userns.supported)
      throw new HullError("HOST_UNSUPPORTED", `pod ${meta.namespace}/${meta.name}: a user namespace of its own cannot be made here: ${userns.reason}`);
    await checkSearchableByOthers(engine.paths.containersDir, `pod ${meta.namespace}/${meta.name} with a user namespace`);
  }
  if (!hostNetwork) {
    const net = await engine.pods.network.status();
    if (!net.ready)
      throw new HullError("UNAVAILABLE", `pod ${meta.namespace}/${meta.name}: the pod network is not ready (${net.reason}: ${net.message})`, {
        reason: net.reason,
      });
  }
  const id = randomBytes(32).toString("hex");
  let pod: PodRecord = {
    id,
    name: meta.name,
    namespace: meta.namespace,
    uid: meta.uid,
    attempt: meta.attempt,
    state: "notready",
    createdAtNs: nowNs(),
    config: PodSandboxConfig.toJSON(config),
    runtimeHandler,
    namespaces: {},
    pidMode,
    hostNetwork,
    network: { name: "", ips: [], interface: "" },
    infraContainerId: "",
    hostname: config.hostname !== "" ? config.hostname : hostHostname(),
    dir: join(engine.paths.podsDir, id),
    stateReason: "being set up",
    ...(idMappings !== undefined ? { idMappings } : {}),
  };
  // Saved before anything is touched: hulld's recovery tears down a pod it finds half set up.
  await engine.store.writePodRecord(pod);
  return engine.locks.with(`pod:${id}`, async () => {
    try {
      const kinds: PodNamespaceKind[] = [
        ...(hostNetwork ? [] : (["net", "uts"] as const)),
        ...(hostIpc ? [] : (["ipc"] as const)),
        ...(idMappings ? (["user"] as const) : []),
      ];
      pod = { ...pod, namespaces: await engine.pods.pinner.pin(join(engine.paths.podNamespacesDir, id), kinds, pod.hostname, idMappings) };
      await engine.store.writePodRecord(pod);
      pod = await attachAndStartInfra(engine, pod, config);
      pod = { ...pod, state: "ready", stateReason: "" };
      await engine.store.writePodRecord(pod);
      engine.log.info({ pod: id, name: `${meta.namespace}/${meta.name}`, ips: pod.network.ips, infra: pod.infraContainerId || undefined }, "pod sandbox ready");
      return pod;
    } catch (err) {
      try {
        await tearDownPod(engine, pod);
        await rm(pod.dir, { recursive: true, force: true });
        await engine.store.writePodRecord(pod, true);
      } catch (undo) {
        // Kept, not ready, so RemovePodSandbox (or hulld's recovery) can finish the teardown.
        engine.log.error({ pod: id, err: undo }, "undoing a failed RunPodSandbox failed; the pod is kept for RemovePodSandbox");
        await engine.store.writePodRecord({ ...pod, state: "notready", stateReason: `setup failed and its teardown too: ${String(undo)}` });
      }
      throw wrapError(err, id, "run", "pod sandbox");
    }
  });
}
