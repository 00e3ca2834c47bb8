// The parts of the OCI spec that place a container in its pod and on the
// host: the namespaces it joins (a pod's pinned files, the infra process's
// PID namespace, or the host's), its user namespace, host devices, privileged mode, sysctls, cpusets,
// hugepages, swap and oom_score_adj. Pure, like spec.ts, which applies it.
import type { ContainerConfig, Mount, NamespaceOptions } from "../gen/hull/v1/container.js";
import type { GrantedDevice, OciDevice, OciDeviceCgroup, OciNamespace, OciResources, OciSpec } from "./spec-types.js";
import { userNamespaceMapping } from "../validation/spec-rules.js";

type Kind = "network" | "ipc" | "uts" | "pid";

/** One namespace of the spec: new (""), the host's (none in the spec), or joined by path. */
function namespace(type: Kind, value: string, fallbackNew: boolean): OciNamespace | undefined {
  if (value === "host") return undefined;
  if (value !== "") return { type, path: value };
  return fallbackNew ? { type } : undefined;
}

/**
 * The spec's namespaces. Always a new mount namespace; PID, IPC and UTS new
 * unless shared or joined; the network new only for network_mode "none"
 * (hull.v1's default is the host's) unless a path is given.
 */
export function containerNamespaces(config: ContainerConfig): OciNamespace[] {
  const ns: NamespaceOptions = config.namespaces ?? { network: "", ipc: "", uts: "", pid: "", user: "" };
  const out: OciNamespace[] = [];
  for (const n of [
    namespace("pid", ns.pid, true),
    namespace("ipc", ns.ipc, true),
    namespace("uts", ns.uts, true),
    { type: "mount" as const },
    namespace("network", ns.network, config.networkMode === "none"),
  ]) {
    if (n) out.push(n);
  }
  return out;
}

/**
 * Whether a container in a user namespace may mount a sysfs of its own: the
 * kernel allows it only in a network namespace its user namespace owns. So it
 * is when runc creates the network namespace (after entering the user one),
 * or when both are a pod's, pinned together so that the pod's user namespace
 * owns its network namespace (as CRI-O's pinns creates them); never in the
 * host's network namespace.
 */
export function sysfsMountable(config: ContainerConfig): boolean {
  const net = containerNamespaces(config).find((n) => n.type === "network");
  if (net === undefined) return false;
  return net.path === undefined || (config.namespaces?.user ?? "") !== "";
}

/**
 * A user namespace, when security.user_namespace asks for one: container
 * ids 0..size-1 are host ids hostId..; runc creates the namespace and writes
 * the maps, or joins a pod's (namespaces.user) and only reads them to know
 * the host's id of container root. An image's rootfs is a copy with shifted
 * ids (images/shifted-layers.ts); a rootfs_path dir is used as it is. Where
 * the kernel refuses a sysfs of its own (sysfsMountable), the container gets
 * the host's /sys read-only instead, as Podman does (runc 1.1.5 has no
 * fallback).
 */
export function applyUserNamespace(spec: OciSpec, config: ContainerConfig): void {
  const mapping = userNamespaceMapping(config.security?.userNamespace);
  if (!mapping) return;
  const joined = config.namespaces?.user ?? "";
  spec.linux.namespaces.push(joined !== "" ? { type: "user", path: joined } : { type: "user" });
  spec.linux.uidMappings = [{ containerID: 0, hostID: mapping.uid.hostId, size: mapping.uid.size }];
  spec.linux.gidMappings = [{ containerID: 0, hostID: mapping.gid.hostId, size: mapping.gid.size }];
  if (sysfsMountable(config)) return;
  spec.mounts = spec.mounts.map((m) =>
    m.destination === "/sys" && m.type === "sysfs"
      ? { destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
      : m,
  );
}

export function usesHostUts(config: ContainerConfig): boolean {
  return config.namespaces?.uts === "host";
}

/** The cgroup (cgroupfs path) of a container: under its cgroup_parent, else hull's own tree. */
export function cgroupPathOf(id: string, config: ContainerConfig): string {
  return config.cgroupParent !== "" ? `${config.cgroupParent.replace(/\/+$/, "")}/hull-${id}` : `/hull/${id}`;
}

/** Limits beyond hull.v1's original ones: cpusets, hugepages, swap. */
export function extraResources(config: ContainerConfig, out: OciResources): void {
  const r = config.resources;
  if (!r) return;
  if (r.cpusetCpus !== "" || r.cpusetMems !== "") {
    out.cpu = { ...out.cpu, ...(r.cpusetCpus !== "" ? { cpus: r.cpusetCpus } : {}), ...(r.cpusetMems !== "" ? { mems: r.cpusetMems } : {}) };
  }
  const pages = Object.entries(r.hugepageLimits);
  if (pages.length > 0) out.hugepageLimits = pages.map(([pageSize, limit]) => ({ pageSize, limit }));
  if (r.memorySwapLimitBytes !== 0) out.memory = { ...out.memory, swap: r.memorySwapLimitBytes };
}

/**
 * oom_score_adj: a process may raise its own but lowering it needs
 * CAP_SYS_RESOURCE; where hulld lacks it (hostFloor = hulld's own value) a
 * lower request is clamped to hulld's, which runc then leaves as inherited.
 */
export function oomScoreAdjFor(config: ContainerConfig, hostFloor: number | undefined): number | undefined {
  const asked = config.resources?.oomScoreAdj;
  if (asked === undefined) return undefined;
  return hostFloor !== undefined && asked < hostFloor ? hostFloor : asked;
}

/** devices, a later one replacing an earlier one at the same path: runc would mknod both and fail on the second. */
function byPath(devices: readonly OciDevice[]): OciDevice[] {
  return [...new Map(devices.map((d) => [d.path, d])).values()];
}

/**
 * The devices a config asked for, resolved on the host by the caller, as
 * containerd's WithDevices and CRI-O add them: each node in linux.devices
 * and a cgroup rule allowing exactly its major:minor with its permissions,
 * after the default rules (the device cgroup takes the union).
 */
export function applyDevices(spec: OciSpec, devices: readonly GrantedDevice[]): void {
  if (devices.length === 0) return;
  spec.linux.devices = byPath([...(spec.linux.devices ?? []), ...devices.map((d) => d.device)]);
  const rules: OciDeviceCgroup[] = devices.map(({ device, access }) => ({ allow: true, type: device.type, major: device.major, minor: device.minor, access }));
  if (spec.linux.resources) spec.linux.resources.devices = [...(spec.linux.resources.devices ?? []), ...rules];
}

/**
 * Privileged, as Podman and containerd do it: every capability (the caller
 * computes them), no seccomp filter, no masked or read-only paths, /sys
 * writable, every device allowed by the cgroup and the host's devices
 * present in /dev, besides those the config asked for (applyDevices: at a
 * path both have, the config's).
 */
export function applyPrivileged(spec: OciSpec, hostDevices: readonly OciDevice[]): void {
  spec.linux.maskedPaths = [];
  spec.linux.readonlyPaths = [];
  delete spec.linux.seccomp;
  spec.process.noNewPrivileges = false;
  if (spec.linux.resources) spec.linux.resources.devices = [{ allow: true, access: "rwm" }];
  spec.linux.devices = byPath([...hostDevices, ...(spec.linux.devices ?? [])]);
  spec.mounts = spec.mounts.map((m) => (m.destination === "/sys" && m.type === "sysfs" ? { ...m, options: (m.options ?? []).filter((o) => o !== "ro") } : m));
}

/**
 * A shared (or slave) bind mount propagates only if the container's root
 * mount does too: containerd sets the rootfs propagation to rshared for a
 * bidirectional mount and rslave for host-to-container, as runc needs.
 */
export function rootfsPropagationFor(mounts: readonly Mount[]): "rshared" | "rslave" | undefined {
  if (mounts.some((m) => m.options.includes("rshared") || m.options.includes("shared"))) return "rshared";
  if (mounts.some((m) => m.options.includes("rslave") || m.options.includes("slave"))) return "rslave";
  return undefined;
}
