// What pods need from the host, as interfaces the engine is given: pinning
// namespaces without a process (CRI-O's pinns) and attaching a pod to its
// network (CNI). src/network implements them; unit tests use fakes.
import type { IdMappings } from "../domain/spec-defaults.js";
import type { PodNamespaceKind } from "../store/record.js";

export interface PortMappingSpec {
  protocol: "tcp" | "udp" | "sctp";
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

export interface PodNetworkRequest {
  podId: string;
  /** The pod's pinned network namespace file ("" once it is gone: a DEL still frees the addresses). */
  netnsPath: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  portMappings: PortMappingSpec[];
}

export interface PodNetworkResult {
  /** The network's name, from its config. */
  network: string;
  /** Addresses without their prefix length, primary first. */
  ips: string[];
  interface: string;
}

/** A CNI CHECK that did not fail (a failure throws, naming the plugin). */
export type PodNetworkCheck = { outcome: "ok" } | { outcome: "skipped"; reason: string };

export interface PodNetwork {
  /** Whether a network is configured, and why not (the CRI's NetworkReady). */
  status(): Promise<{ ready: boolean; reason: string; message: string }>;
  setUp(req: PodNetworkRequest): Promise<PodNetworkResult>;
  /** Idempotent: a pod never set up, or already torn down, is fine. */
  tearDown(req: PodNetworkRequest): Promise<void>;
  /**
   * Whether the attachment is still as setUp left it (CNI CHECK); runs
   * plugins, so never on a hot path. Throws NOT_IMPLEMENTED when the
   * network's CNI version has no CHECK, and any failure with its reason.
   */
  check(req: PodNetworkRequest): Promise<PodNetworkCheck>;
}

export interface NamespacePinner {
  /**
   * Pins new namespaces of the given kinds under dir (the UTS one named
   * hostname); with userns, a user namespace with those mappings too, owning
   * the others. Returns their files.
   */
  pin(dir: string, kinds: PodNamespaceKind[], hostname: string, userns?: IdMappings): Promise<Partial<Record<PodNamespaceKind, string>>>;
  /** Unpins and removes them, unmounting alsoUnmount (the pod's /dev/shm) in the same step; idempotent. */
  release(dir: string, alsoUnmount?: readonly string[]): Promise<void>;
  /** Whether a namespace file is still pinned (a reboot or an admin's umount may have taken it). */
  isPinned(file: string): Promise<boolean>;
  /** Mounts the pod's shared /dev/shm (a tmpfs) at path; idempotent. */
  mountShm(path: string): Promise<void>;
  /** Unmounts it; idempotent. */
  unmountShm(path: string): Promise<void>;
}

export interface PodEnvironment {
  network: PodNetwork;
  pinner: NamespacePinner;
  /** The image of infra containers (a shared PID namespace needs a process to own it). */
  pauseImage: string;
  /** The node's pod CIDR as the kubelet last sent it (UpdateRuntimeConfig); "" = never sent. */
  podCidr: string;
}
