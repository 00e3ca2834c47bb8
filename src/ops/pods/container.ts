// CreateContainer in a pod: the container's own config (from the CRI
// adapter) placed in its pod, as CRI-O and containerd do it: the pod's
// pinned network, IPC and UTS namespaces; its PID namespace (the infra
// process's, the container's own, the host's, or a target container's);
// the pod's hostname, hosts and resolv.conf bind-mounted; its sysctls,
// cgroup parent and log directory; the name CRI-O gives pod containers.
import { mkdir, stat } from "node:fs/promises";
import { isAbsolute, join, normalize, relative } from "node:path";
import { ContainerConfig, type Mount } from "../../gen/hull/v1/container.js";
import { PodSandboxConfig } from "../../gen/runtime/v1/api.js";
import { ContainerState, type ContainerRecord, type PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { HullError } from "../../errors.js";
import { podContainerName, podShmPath } from "../../domain/pod-files.js";
import { createContainer } from "../create.js";
import { resolvePod } from "./query.js";
import { podContainerUserNamespace, type ContainerUserns } from "./userns.js";

/** The PID namespace a container asks for inside its pod (the CRI's namespace_options.pid). */
export type PodPidMode = { mode: "pod" } | { mode: "container" } | { mode: "node" } | { mode: "target"; containerId: string };

export interface PodContainerRequest {
  /** The container's own part (command, env, mounts, security context, resources). */
  config: ContainerConfig;
  pid: PodPidMode;
  /** Relative to the pod's log_directory; "" = hull's own log file. */
  logPath: string;
  /** The CRI metadata name and attempt. */
  name: string;
  attempt: number;
  infra?: boolean;
  /** The container's userns_options; undefined = its pod's user namespace. */
  userns?: ContainerUserns;
}

function procNs(pid: number, kind: string): string {
  return `/proc/${pid}/ns/${kind}`;
}

async function runningPid(engine: Engine, id: string, what: string): Promise<number> {
  const rec = await engine.sync(id);
  if (rec.pid <= 0 || rec.state !== ContainerState.CONTAINER_STATE_RUNNING)
    throw new HullError("CONTAINER_STATE_INVALID", `${what} ${id.slice(0, 12)} is not running: its PID namespace cannot be joined`, { container: id });
  return rec.pid;
}

async function pidNamespace(engine: Engine, pod: PodRecord, req: PodContainerRequest): Promise<string> {
  if (req.infra) return "";
  if (req.pid.mode === "node" || pod.pidMode === "node") return "host";
  if (req.pid.mode === "container") return "";
  if (req.pid.mode === "target") {
    const target = await engine.resolve(req.pid.containerId);
    const rec = await engine.sync(target);
    if (rec.config.pod?.id !== pod.id)
      throw new HullError("INVALID_ARGUMENT", `invalid namespace_options.target_id: container ${target.slice(0, 12)} is not in pod ${pod.id.slice(0, 12)}`, {
        field: "target_id",
      });
    return procNs(await runningPid(engine, target, "target container"), "pid");
  }
  // POD: the infra process's, when the pod has one (a pod run with PID mode CONTAINER has none).
  return pod.infraContainerId === "" ? "" : procNs(await runningPid(engine, pod.infraContainerId, "the pod's infra container"), "pid");
}

/**
 * The pod's /etc files and its shared /dev/shm (the host's with host IPC, as
 * containerd does), unless the container mounts its own there (as the
 * kubelet does for /etc/hosts).
 */
function podFileMounts(pod: PodRecord, own: readonly Mount[]): Mount[] {
  const taken = new Set(own.map((m) => normalize(m.destination)));
  const files: Mount[] = ["hostname", "hosts", "resolv.conf"].map((f) => ({
    type: "bind",
    source: join(pod.dir, f),
    destination: `/etc/${f}`,
    options: ["rw", "rprivate"],
  }));
  const shm: Mount = {
    type: "bind",
    source: pod.namespaces.ipc !== undefined ? podShmPath(pod) : "/dev/shm",
    destination: "/dev/shm",
    options: ["rw", "rprivate"],
  };
  return [...files, shm].filter((m) => !taken.has(m.destination));
}

/** containerd creates a bind mount's missing host directory; never inside hulld's own dirs (validation refuses those next). */
async function createMissingSources(engine: Engine, mounts: readonly Mount[]): Promise<void> {
  const own = [engine.paths.root, engine.paths.runRoot];
  for (const m of mounts) {
    if (m.type !== "bind" || !isAbsolute(m.source)) continue;
    if (own.some((d) => !relative(d, m.source).startsWith(".."))) continue;
    const exists = await stat(m.source).then(
      () => true,
      () => false,
    );
    if (!exists) await mkdir(m.source, { recursive: true, mode: 0o755 });
  }
}

export async function createPodContainer(engine: Engine, podRef: PodRecord | string, req: PodContainerRequest): Promise<ContainerRecord> {
  const pod = typeof podRef === "string" ? await resolvePod(engine, podRef) : podRef;
  if (pod.state !== "ready" && !req.infra)
    throw new HullError(
      "CONTAINER_STATE_INVALID",
      `pod sandbox ${pod.id.slice(0, 12)} is not ready (${pod.stateReason || "stopped"}): no container can be created in it`,
      { pod: pod.id },
    );
  const podConfig = PodSandboxConfig.fromJSON(pod.config);
  const logDir = podConfig.logDirectory;
  const userNamespace = podContainerUserNamespace(pod, req.userns);
  const config: ContainerConfig = ContainerConfig.fromPartial({
    ...req.config,
    name: podContainerName(req.infra ? "POD" : req.name, pod, req.attempt),
    hostname: pod.hostname,
    networkMode: "",
    namespaces: {
      network: pod.namespaces.net ?? "host",
      ipc: pod.namespaces.ipc ?? "host",
      uts: pod.namespaces.uts ?? "host",
      pid: await pidNamespace(engine, pod, req),
      user: pod.namespaces.user ?? "",
    },
    security: userNamespace !== undefined ? { ...req.config.security, userNamespace } : req.config.security,
    mounts: req.infra ? req.config.mounts : [...req.config.mounts, ...podFileMounts(pod, req.config.mounts)],
    sysctls: { ...(podConfig.linux?.sysctls ?? {}), ...req.config.sysctls },
    cgroupParent: podConfig.linux?.cgroupParent ?? "",
    logPath: logDir !== "" && req.logPath !== "" ? join(logDir, req.logPath) : "",
    pod: {
      id: pod.id,
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      containerName: req.infra ? "POD" : req.name,
      attempt: req.attempt,
      image: req.config.image,
      infra: req.infra ?? false,
    },
  });
  await createMissingSources(engine, config.mounts);
  return createContainer(engine, config, { grantedMountSources: [pod.dir] });
}
