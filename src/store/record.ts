import type { ContainerConfig } from "../gen/hull/v1/container.js";
import { ContainerState } from "../gen/hull/v1/container.js";
import type { IdMappings } from "../domain/spec-defaults.js";

export { ContainerState };

/** One exec session of a container, as recorded in the store. */
export interface ExecSessionRecord {
  id: string;
  command: string[];
  running: boolean;
  exitCode: number;
  pid: number;
}

/** An image volume: config.mounts[mount] names the image by reference; imageId is the image it resolved to at create. */
export interface ImageVolumeRecord {
  mount: number;
  imageId: string;
}

/**
 * A container as kept in the state store: its config (as created) and its
 * lifecycle state. Times are ISO-8601 strings; "" means never.
 */
export interface ContainerRecord {
  id: string;
  name: string;
  state: ContainerState;
  config: ContainerConfig;
  dependencyIds: string[];
  exitCode: number;
  exitSignal: number;
  pid: number;
  conmonPid: number;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
  stoppedByUser: boolean;
  stateReason: string;
  oomKilled: boolean;
  mountCount: number;
  /** Host path of the root filesystem the runtime uses. */
  rootfs: string;
  bundlePath: string;
  logPath: string;
  execSessions: ExecSessionRecord[];
  /** The identity its process runs with, resolved at its last init: uid, primary gid, and every group (the primary first), as the CRI's ContainerStatus.user reports it. */
  processUser?: { uid: number; gid: number; groups: number[] };
  /** The image ("sha256:...") the root filesystem is built from; absent for rootfs_path containers. */
  imageId?: string;
  /** Its image volumes (config.mounts of type "image"), each resolved to its image's id at create; absent = none. */
  imageVolumes?: ImageVolumeRecord[];
  /** Bumped on every save; lets readers notice a concurrent change. */
  revision: number;
}

/**
 * A write-ahead note that an operation spanning the store and the runtime
 * has begun (stored under intent/<id>, beside the record). Written before the
 * runtime is touched and cleared in the same batch as the operation's final
 * save, so a hulld that finds one at start knows the operation was cut short.
 */
export interface OperationIntent {
  /** init: conmon/runc create under way; stop: a stop is waiting to escalate; remove: removal under way. */
  op: "init" | "stop" | "remove";
  /** ISO-8601 time the operation began. */
  startedAt: string;
  /** stop only: ISO-8601 time at which SIGKILL is due ("" = never recorded). */
  killAt?: string;
}

/** A namespace kind a pod pins for its containers. */
export type PodNamespaceKind = "net" | "ipc" | "uts" | "user";

/**
 * A pod sandbox (the CRI's), kept under pod/<id>: the namespaces its
 * containers join, its network, and the config it was run with. CRI-O's
 * "drop infra" shape: the net, IPC and UTS namespaces are pinned to files,
 * not held by a process; an infra container exists only when the pod shares
 * one PID namespace.
 */
export interface PodRecord {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  /** ready: namespaces and network set up; notready: stopped (or being set up). */
  state: "ready" | "notready";
  /** Nanoseconds since the epoch, in decimal (beyond 2^53). */
  createdAtNs: string;
  /** The CRI PodSandboxConfig as given, in protobuf JSON: labels, annotations and the rest come back from it exactly. */
  config: unknown;
  runtimeHandler: string;
  /** Pinned namespace files, by kind; a kind the pod shares with the host is absent. */
  namespaces: Partial<Record<PodNamespaceKind, string>>;
  /** The pod's user namespace's mappings (the CRI's userns POD mode); absent = the host's user namespace. */
  idMappings?: IdMappings;
  /** The pod's PID namespace: "pod" (shared: the infra container's), "container" (each its own) or "node" (the host's). */
  pidMode: "pod" | "container" | "node";
  /** The host's network namespace (no CNI). */
  hostNetwork: boolean;
  /** The CNI network it was attached to ("" none) and the addresses the plugins gave it, primary first. */
  network: { name: string; ips: string[]; interface: string };
  /** The infra container for a shared PID namespace ("" = none). */
  infraContainerId: string;
  /** The pod's hostname (its UTS namespace's, and every container's). */
  hostname: string;
  /** Where its hostname, hosts and resolv.conf live. */
  dir: string;
  /** Why the pod is not ready, when that is not obvious. */
  stateReason: string;
}
