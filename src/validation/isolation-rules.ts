// The rules for what places a container in a pod and on the host: the
// namespaces it joins, sysctls, cpusets, hugepages, oom_score_adj, groups,
// masked paths, its log path and cgroup parent. Shared by hull.v1's
// CreateContainer and the CRI's, which fill these fields from pod and
// container configs.
import type { ContainerConfig, NamespaceOptions, Resources, SecurityOptions } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import { checkAbsolutePath, checkArgv, checkCount, checkText, shown } from "./rules.js";

const MAX_SYSCTLS = 128;
const MAX_PATHS = 256;
const MAX_GROUPS = 256;
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

/** The fields of a config that place it in a pod and on the host. */
export function checkIsolation(prefix: string, config: ContainerConfig): void {
  if (config.namespaces) checkNamespaceOptions(prefix, config.namespaces, config.networkMode);
  // runc 1.1 reads the mapping from the spec, not from the namespace it joins.
  if ((config.namespaces?.user ?? "") !== "" && config.security?.userNamespace?.mode !== "private")
    throw invalidArgument(`${prefix}.namespaces.user`, "joining a user namespace needs security.user_namespace mode private with that namespace's mapping");
  checkSysctls(`${prefix}.sysctls`, config.sysctls, config.namespaces);
  if (config.resources) checkIsolatedResources(`${prefix}.resources`, config.resources);
  if (config.security) checkIsolatedSecurity(`${prefix}.security`, config.security);
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
