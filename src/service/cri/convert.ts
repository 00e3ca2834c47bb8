// hull's records as CRI messages: states, reasons, nanosecond times, and
// labels and annotations exactly as the CRI request gave them.
import {
  ContainerState as CriState,
  MountPropagation,
  PodSandboxConfig,
  PodSandboxState,
  type Container,
  type ContainerStatus,
  type LinuxContainerResources,
  type Mount as CriMount,
  type PodSandbox,
  type PodSandboxStatus,
} from "../../gen/runtime/v1/api.js";
import type { Mount } from "../../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord, type PodRecord } from "../../store/record.js";

const S = ContainerState;

export function criState(state: ContainerState): CriState {
  switch (state) {
    case S.CONTAINER_STATE_CONFIGURED:
    case S.CONTAINER_STATE_CREATED:
      return CriState.CONTAINER_CREATED;
    case S.CONTAINER_STATE_RUNNING:
    case S.CONTAINER_STATE_PAUSED:
    case S.CONTAINER_STATE_STOPPING:
      return CriState.CONTAINER_RUNNING;
    case S.CONTAINER_STATE_STOPPED:
    case S.CONTAINER_STATE_EXITED:
      return CriState.CONTAINER_EXITED;
    default:
      return CriState.CONTAINER_UNKNOWN;
  }
}

/** ISO-8601 ("" = never) as nanoseconds since the epoch (0 = never). */
export function nanos(iso: string): bigint {
  if (iso === "") return 0n;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0n : BigInt(ms) * 1_000_000n;
}

/** The kubelet's reasons: OOMKilled, Completed (exit 0) or Error. */
function exitReason(rec: ContainerRecord): string {
  if (criState(rec.state) !== CriState.CONTAINER_EXITED) return "";
  if (rec.oomKilled) return "OOMKilled";
  return rec.exitCode === 0 ? "Completed" : "Error";
}

function fromMount(m: Mount): CriMount {
  const opts = new Set(m.options);
  const propagation = opts.has("rshared")
    ? MountPropagation.PROPAGATION_BIDIRECTIONAL
    : opts.has("rslave")
      ? MountPropagation.PROPAGATION_HOST_TO_CONTAINER
      : MountPropagation.PROPAGATION_PRIVATE;
  // An image volume reports its image as the kubelet gave it, and no host path.
  const image = m.type === "image";
  return {
    containerPath: m.destination,
    hostPath: image ? "" : m.source,
    readonly: opts.has("ro"),
    selinuxRelabel: false,
    propagation,
    uidMappings: [],
    gidMappings: [],
    recursiveReadOnly: opts.has("rro"),
    image: image ? { image: m.source, annotations: {}, userSpecifiedImage: m.source, runtimeHandler: "" } : undefined,
  };
}

export function criResources(rec: ContainerRecord): LinuxContainerResources {
  const r = rec.config.resources;
  return {
    cpuPeriod: BigInt(r?.cpuPeriodUs ?? 0),
    cpuQuota: BigInt(r?.cpuQuotaUs ?? 0),
    cpuShares: BigInt(r?.cpuShares ?? 0),
    memoryLimitInBytes: BigInt(r?.memoryLimitBytes ?? 0),
    oomScoreAdj: BigInt(r?.oomScoreAdj ?? 0),
    cpusetCpus: r?.cpusetCpus ?? "",
    cpusetMems: r?.cpusetMems ?? "",
    hugepageLimits: Object.entries(r?.hugepageLimits ?? {}).map(([pageSize, limit]) => ({ pageSize, limit: BigInt(limit) })),
    unified: {},
    memorySwapLimitInBytes: BigInt(r?.memorySwapLimitBytes ?? 0),
  };
}

/** The pod files hull mounted itself are not the container's mounts. */
function ownMounts(rec: ContainerRecord, pod: PodRecord | undefined): Mount[] {
  return rec.config.mounts.filter((m) => pod === undefined || !m.source.startsWith(`${pod.dir}/`));
}

export function toCriContainer(rec: ContainerRecord): Container {
  const p = rec.config.pod;
  return {
    id: rec.id,
    podSandboxId: p?.id ?? "",
    metadata: { name: p?.containerName ?? rec.name, attempt: p?.attempt ?? 0 },
    image: { image: p?.image ?? rec.config.image, annotations: {}, userSpecifiedImage: p?.image ?? "", runtimeHandler: "" },
    imageRef: rec.imageId ?? "",
    state: criState(rec.state),
    createdAt: nanos(rec.createdAt),
    labels: { ...rec.config.labels },
    annotations: { ...rec.config.annotations },
    imageId: rec.imageId ?? "",
  };
}

export function toCriContainerStatus(rec: ContainerRecord, pod: PodRecord | undefined): ContainerStatus {
  const c = toCriContainer(rec);
  const u = rec.processUser;
  return {
    id: c.id,
    metadata: c.metadata,
    state: c.state,
    createdAt: c.createdAt,
    startedAt: nanos(rec.startedAt),
    finishedAt: c.state === CriState.CONTAINER_EXITED ? nanos(rec.finishedAt) : 0n,
    exitCode: c.state === CriState.CONTAINER_EXITED ? rec.exitCode : 0,
    image: c.image,
    imageRef: c.imageRef,
    reason: exitReason(rec),
    message: rec.stateReason,
    labels: c.labels,
    annotations: c.annotations,
    mounts: ownMounts(rec, pod).map(fromMount),
    logPath: rec.logPath,
    resources: { linux: criResources(rec), windows: undefined },
    imageId: c.imageId,
    user: u === undefined ? undefined : { linux: { uid: BigInt(u.uid), gid: BigInt(u.gid), supplementalGroups: u.groups.map((g) => BigInt(g)) } },
  };
}

export function podConfigOf(pod: PodRecord): PodSandboxConfig {
  return PodSandboxConfig.fromJSON(pod.config);
}

export function toCriPod(pod: PodRecord, config: PodSandboxConfig = podConfigOf(pod)): PodSandbox {
  return {
    id: pod.id,
    metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: pod.attempt },
    state: pod.state === "ready" ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY,
    createdAt: BigInt(pod.createdAtNs),
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    runtimeHandler: pod.runtimeHandler,
  };
}

export function toCriPodStatus(pod: PodRecord): PodSandboxStatus {
  const config = podConfigOf(pod);
  const p = toCriPod(pod, config);
  const ns = config.linux?.securityContext?.namespaceOptions;
  const [ip = "", ...more] = pod.network.ips;
  return {
    id: p.id,
    metadata: p.metadata,
    state: p.state,
    createdAt: p.createdAt,
    network: { ip, additionalIps: more.map((a) => ({ ip: a })) },
    linux: {
      namespaces: {
        options: {
          network: ns?.network ?? 0,
          pid: ns?.pid ?? 0,
          ipc: ns?.ipc ?? 0,
          targetId: ns?.targetId ?? "",
          usernsOptions: ns?.usernsOptions,
        },
      },
    },
    labels: p.labels,
    annotations: p.annotations,
    runtimeHandler: p.runtimeHandler,
  };
}
