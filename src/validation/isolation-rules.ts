// The rules for what places a container in a pod and on the host: the
// namespaces it joins, sysctls, cpusets, hugepages, oom_score_adj, groups,
// masked paths, host devices, its log path and cgroup parent. Shared by
// hull.v1's CreateContainer and the CRI's, which fill these fields from pod
// and container configs.
import { posix } from "node:path";
import type { ContainerConfig, Device, NamespaceOptions, Resources, SecurityOptions } from "../gen/hull/v1/container.js";
import { type HullError, invalidArgument } from "../errors.js";
import { ALWAYS_ALLOWED_DEVICES, RESERVED_DESTINATIONS } from "../domain/spec-defaults.js";
import { checkAbsolutePath, checkArgv, checkCount, checkText, shown } from "./rules.js";

const MAX_SYSCTLS = 128;
const MAX_PATHS = 256;
const MAX_GROUPS = 256;
const MAX_DEVICES = 256;
/** r, w and m, each at most once, in any order: the device cgroup's access letters. */
const DEVICE_ACCESS = /^(?!.*(.).*\1)[rwm]{1,3}$/;
const CPUSET = /^(?:\d{1,4}(?:-\d{1,4})?)(?:,\d{1,4}(?:-\d{1,4})?)*$/;
const HUGEPAGE_SIZE = /^\d+(?:KB|MB|GB)$/;
const SYSCTL_NAME = /^[a-z0-9_]+(?:[./][a-z0-9_-]+)+$/;
/**
 * The sysctls a container may set: those the kernel namespaces (runc's and
 * the kubelet's safe and unsafe-but-namespaced lists). A host-wide sysctl
 * would change the host's kernel for everyone.
 */
const NAMESPACED_SYSCTL = /^(?:net\.|kernel\.shm(?:all|max|mni|_rmid_forced)$|kernel\.msg(?:max|mnb|mni)$|kernel\.sem$|fs\.mqueue\.)/;

function checkNamespace(field: string, value: string): void {
  if (value === "" || value === "host") return;
  checkAbsolutePath(field, value);
}

export function checkNamespaceOptions(prefix: string, ns: NamespaceOptions, networkMode: string): void {
  const f = `${prefix}.namespaces`;
  checkNamespace(`${f}.network`, ns.network);
  checkNamespace(`${f}.ipc`, ns.ipc);
  checkNamespace(`${f}.uts`, ns.uts);
  checkNamespace(`${f}.pid`, ns.pid);
  if (ns.user !== "") checkAbsolutePath(`${f}.user`, ns.user);
  if (ns.network !== "" && networkMode === "none") throw invalidArgument(`${f}.network`, `${shown(ns.network)} contradicts network_mode "none"`);
}

export function checkSysctls(field: string, sysctls: Readonly<Record<string, string>>, ns: NamespaceOptions | undefined): void {
  const entries = Object.entries(sysctls);
  checkCount(field, entries, MAX_SYSCTLS);
  for (const [key, value] of entries) {
    if (!SYSCTL_NAME.test(key)) throw invalidArgument(`${field}[${shown(key)}]`, "is not a sysctl name (e.g. net.ipv4.ip_forward)");
    if (!NAMESPACED_SYSCTL.test(key))
      throw invalidArgument(`${field}[${shown(key)}]`, "is not a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)");
    if (key.startsWith("net.") && ns?.network === "host") throw invalidArgument(`${field}[${shown(key)}]`, "cannot be set in the host's network namespace");
    if (!key.startsWith("net.") && ns?.ipc === "host") throw invalidArgument(`${field}[${shown(key)}]`, "cannot be set in the host's IPC namespace");
    checkText(`${field}[${shown(key)}]`, value, 4096);
  }
}

export function checkIsolatedResources(field: string, r: Resources): void {
  if (r.cpusetCpus !== "" && !CPUSET.test(r.cpusetCpus))
    throw invalidArgument(`${field}.cpuset_cpus`, `${shown(r.cpusetCpus)} is not a cpu list such as 0-1,3`);
  if (r.cpusetMems !== "" && !CPUSET.test(r.cpusetMems)) throw invalidArgument(`${field}.cpuset_mems`, `${shown(r.cpusetMems)} is not a node list such as 0`);
  if (r.oomScoreAdj !== undefined && (r.oomScoreAdj < -1000 || r.oomScoreAdj > 1000))
    throw invalidArgument(`${field}.oom_score_adj`, `${r.oomScoreAdj} is outside -1000..1000`);
  for (const [size, limit] of Object.entries(r.hugepageLimits)) {
    if (!HUGEPAGE_SIZE.test(size)) throw invalidArgument(`${field}.hugepage_limits`, `${shown(size)} is not a page size such as 2MB`);
    if (limit < 0) throw invalidArgument(`${field}.hugepage_limits[${size}]`, `${limit} is negative`);
  }
  if (r.memorySwapLimitBytes < -1) throw invalidArgument(`${field}.memory_swap_limit_bytes`, `${r.memorySwapLimitBytes} is below -1 (unlimited)`);
  if (r.memorySwapLimitBytes > 0 && r.memoryLimitBytes > 0 && r.memorySwapLimitBytes < r.memoryLimitBytes)
    throw invalidArgument(`${field}.memory_swap_limit_bytes`, `${r.memorySwapLimitBytes} is below the memory limit ${r.memoryLimitBytes} it includes`);
}

export function checkIsolatedSecurity(field: string, s: SecurityOptions): void {
  checkCount(`${field}.supplemental_groups`, s.supplementalGroups, MAX_GROUPS);
  s.supplementalGroups.forEach((g, i) => {
    if (g > 0xfffffffe) throw invalidArgument(`${field}.supplemental_groups[${i}]`, `${g} is not a group id`);
  });
  for (const [name, list] of [
    ["masked_paths", s.maskedPaths],
    ["readonly_paths", s.readonlyPaths],
  ] as const) {
    if (list === undefined) continue;
    checkCount(`${field}.${name}`, list.paths, MAX_PATHS);
    list.paths.forEach((p, i) => checkAbsolutePath(`${field}.${name}[${i}]`, p));
  }
}

/**
 * A device's cgroup access in runc's letter order; "" is "rwm", the default
 * of containerd and CRI-O (and podman's --device).
 */
export function deviceAccess(permissions: string): string {
  if (permissions === "") return "rwm";
  return ["r", "w", "m"].filter((c) => permissions.includes(c)).join("");
}

/** Where a device (or a directory's nodes) appears in the container: container_path, else host_path as containerd does. */
export function deviceContainerPath(d: Device): string {
  return d.containerPath !== "" ? d.containerPath : d.hostPath;
}

/**
 * The shape of `devices`: absolute paths without "..", permissions a subset
 * of "rwm", and each container path once and none of the container's own
 * mount points ("/", "/dev", ...), where runc could not create a node. That
 * the host path is a device node is the host check's (hostDeviceRefusal).
 */
export function checkDevices(field: string, devices: readonly Device[]): void {
  checkCount(field, devices, MAX_DEVICES);
  const taken = new Map<string, number>();
  devices.forEach((d, i) => {
    const at = `${field}[${i}]`;
    checkAbsolutePath(`${at}.host_path`, d.hostPath);
    if (d.containerPath !== "") checkAbsolutePath(`${at}.container_path`, d.containerPath);
    if (d.permissions !== "" && !DEVICE_ACCESS.test(d.permissions))
      throw invalidArgument(`${at}.permissions`, `${shown(d.permissions)} is not a subset of "rwm" (r read, w write, m mknod)`);
    const target = posix.normalize(deviceContainerPath(d)).replace(/(.)\/+$/, "$1");
    if (RESERVED_DESTINATIONS.has(target))
      throw invalidArgument(`${at}.container_path`, `${shown(target)} is the container's own ${target}, not a place for a device node`);
    const first = taken.get(target);
    if (first !== undefined) throw invalidArgument(`${at}.container_path`, `${shown(target)} is already ${field}[${first}]'s path in the container`);
    taken.set(target, i);
  });
}

/**
 * The refusal of a device whose host path the caller's stat found missing or
 * neither a device node nor a directory (containerd: "not a device node").
 */
export function hostDeviceRefusal(field: string, path: string, found: "missing" | "not a device"): HullError {
  return found === "missing"
    ? invalidArgument(field, `${shown(path)} does not exist on the host`)
    : invalidArgument(field, `${shown(path)} is not a character or block device node, nor a directory of them`);
}

/**
 * A resolved device's access must be what the container gets. runc 1.1
 * allows its default devices rwm after the spec's rules, so a narrower
 * access to one of them (/dev/null given as "r") would be ignored without a
 * word, as it is under containerd and CRI-O; it is refused instead. Only r
 * and w count: runc lets every device be mknod'ed ("m") anyway.
 */
export function checkGrantedAccess(field: string, device: { type: string; major: number; minor: number }, access: string): void {
  if (access.includes("r") && access.includes("w")) return;
  const always = ALWAYS_ALLOWED_DEVICES.find((a) => a.type === device.type && a.major === device.major && (a.minor === undefined || a.minor === device.minor));
  if (always === undefined) return;
  const node = `${device.type} ${device.major}:${device.minor}`;
  throw invalidArgument(field, `${shown(access)} cannot narrow ${node}: runc always allows ${node} (its ${always.name}) rwm; give "rwm" or no permissions`);
}

/** The fields of a config that place it in a pod and on the host. */
export function checkIsolation(prefix: string, config: ContainerConfig): void {
  if (config.namespaces) checkNamespaceOptions(prefix, config.namespaces, config.networkMode);
  // runc 1.1 reads the mapping from the spec, not from the namespace it joins.
  if ((config.namespaces?.user ?? "") !== "" && config.security?.userNamespace?.mode !== "private")
    throw invalidArgument(`${prefix}.namespaces.user`, "joining a user namespace needs security.user_namespace mode private with that namespace's mapping");
  checkSysctls(`${prefix}.sysctls`, config.sysctls, config.namespaces);
  if (config.resources) checkIsolatedResources(`${prefix}.resources`, config.resources);
  if (config.security) checkIsolatedSecurity(`${prefix}.security`, config.security);
  checkDevices(`${prefix}.devices`, config.devices);
  if (config.logPath !== "") checkAbsolutePath(`${prefix}.log_path`, config.logPath);
  if (config.cgroupParent !== "") {
    checkAbsolutePath(`${prefix}.cgroup_parent`, config.cgroupParent);
    if (config.cgroupParent.split("/").includes("..")) throw invalidArgument(`${prefix}.cgroup_parent`, "must not contain ..");
  }
  if (config.pod) {
    checkText(`${prefix}.pod.id`, config.pod.id, 64);
    checkText(`${prefix}.pod.name`, config.pod.name, 253);
    checkText(`${prefix}.pod.namespace`, config.pod.namespace, 253);
  }
  if (config.entrypoint) checkArgv(`${prefix}.entrypoint.args`, config.entrypoint.args, false);
}
