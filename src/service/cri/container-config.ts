// A CRI ContainerConfig as hull's ContainerConfig: the container's own part
// (command and args, env, mounts, devices, security context, resources). What comes
// from its pod (namespaces, sysctls, hosts files, cgroup parent, log
// directory) is filled in by the pod-container operation, which has the pod.
// Follows containerd's and CRI-O's readings where the CRI leaves room: no
// seccomp message means unconfined (the kubelet's default), empty masked or
// read-only path lists mean hull's defaults, no_new_privs is off unless
// asked.
import type {
  ContainerConfig as CriContainerConfig,
  LinuxContainerResources,
  LinuxContainerSecurityContext,
  Mount as CriMount,
  SecurityProfile,
} from "../../gen/runtime/v1/api.js";
import { MountPropagation, NamespaceMode, SecurityProfile_ProfileType, SupplementalGroupsPolicy } from "../../gen/runtime/v1/api.js";
import { ContainerConfig, Resources, SecurityOptions, type Mount } from "../../gen/hull/v1/container.js";
import { invalidArgument } from "../../errors.js";
import type { PodPidMode } from "../../ops/pods/container.js";
import { criContainerUserns, type ContainerUserns } from "../../ops/pods/userns.js";

export interface CriContainerRequest {
  config: ContainerConfig;
  pid: PodPidMode;
  /** userns_options as given; undefined = the pod's user namespace. */
  userns?: ContainerUserns;
  /** The log file relative to the pod's log_directory ("" = hull's own log). */
  logPath: string;
}

function propagationOption(p: MountPropagation): string {
  if (p === MountPropagation.PROPAGATION_HOST_TO_CONTAINER) return "rslave";
  if (p === MountPropagation.PROPAGATION_BIDIRECTIONAL) return "rshared";
  return "rprivate";
}

/**
 * An image volume (Mount.image) as hull.v1's type "image" mount; whether
 * the image is in the store is create's to answer. containerd's rules: no
 * host_path beside it, and readonly must be set (the CRI says image volumes
 * are always read-only; containerd refuses a writable one rather than force
 * it read-only, and so does hull: the kubelet always sets it).
 */
/** Why uid/gid mappings on a mount cannot be honoured on this host. */
const NO_IDMAP = "idmapped mounts cannot be made here: runc 1.1.5 has no idmap mount option and util-linux 2.38 cannot make one (X-mount.idmap came with 2.39)";

function toImageMount(m: CriMount, image: string, i: number): Mount {
  const at = `config.mounts[${i}]`;
  if (m.hostPath !== "") throw invalidArgument(`${at}.host_path`, `must be empty for the image volume of ${image} at ${m.containerPath}`);
  if (!m.readonly) throw invalidArgument(`${at}.readonly`, `the image volume of ${image} at ${m.containerPath} is always read-only: readonly must be true`);
  if (m.uidMappings.length > 0 || m.gidMappings.length > 0) throw invalidArgument(`${at}.uid_mappings`, NO_IDMAP);
  const options = ["ro", propagationOption(m.propagation)];
  if (m.recursiveReadOnly) options.push("rro");
  return { type: "image", source: image, destination: m.containerPath, options };
}

function toMount(m: CriMount, i: number): Mount {
  if (m.image !== undefined && m.image.image !== "") return toImageMount(m, m.image.image, i);
  if (m.uidMappings.length > 0 || m.gidMappings.length > 0) throw invalidArgument(`config.mounts[${i}].uid_mappings`, NO_IDMAP);
  if (m.recursiveReadOnly && !m.readonly) throw invalidArgument(`config.mounts[${i}].recursive_read_only`, "needs readonly as well (the CRI's rule)");
  if (m.recursiveReadOnly && m.propagation !== MountPropagation.PROPAGATION_PRIVATE)
    throw invalidArgument(`config.mounts[${i}].recursive_read_only`, "needs private propagation (the CRI's rule)");
  const options = [m.readonly ? "ro" : "rw", propagationOption(m.propagation)];
  // runc's "rro": read-only all the way down (mount_setattr with AT_RECURSIVE), the CRI's recursive_read_only.
  if (m.recursiveReadOnly) options.push("rro");
  return { type: "bind", source: m.hostPath, destination: m.containerPath, options };
}

function toInt(field: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw invalidArgument(field, `${v} is out of range`);
  return Number(v);
}

export function toResources(r: LinuxContainerResources | undefined, field = "config.linux.resources"): Resources | undefined {
  if (r === undefined) return undefined;
  const hugepageLimits: Record<string, number> = {};
  for (const [i, h] of r.hugepageLimits.entries()) hugepageLimits[h.pageSize] = toInt(`${field}.hugepage_limits[${i}].limit`, h.limit);
  if (Object.keys(r.unified).length > 0) throw invalidArgument(`${field}.unified`, "cgroup v2 unified settings need a cgroup v2 host; this one runs cgroup v1");
  return Resources.fromPartial({
    memoryLimitBytes: toInt(`${field}.memory_limit_in_bytes`, r.memoryLimitInBytes),
    cpuShares: toInt(`${field}.cpu_shares`, r.cpuShares),
    cpuQuotaUs: toInt(`${field}.cpu_quota`, r.cpuQuota),
    cpuPeriodUs: toInt(`${field}.cpu_period`, r.cpuPeriod),
    cpusetCpus: r.cpusetCpus,
    cpusetMems: r.cpusetMems,
    // 0 is the CRI's "not set": the kubelet sends the value it wants otherwise.
    ...(r.oomScoreAdj !== 0n ? { oomScoreAdj: toInt(`${field}.oom_score_adj`, r.oomScoreAdj) } : {}),
    hugepageLimits,
    memorySwapLimitBytes: toInt(`${field}.memory_swap_limit_in_bytes`, r.memorySwapLimitInBytes),
  });
}

/** The seccomp profile hull.v1 names: "" = hull's default, "unconfined", or a host path. */
export function seccompOf(profile: SecurityProfile | undefined, deprecatedPath: string, field: string): string {
  if (profile === undefined) {
    if (deprecatedPath === "" || deprecatedPath === "unconfined") return "unconfined";
    if (deprecatedPath === "runtime/default" || deprecatedPath === "docker/default") return "";
    if (deprecatedPath.startsWith("localhost/")) return deprecatedPath.slice("localhost".length);
    throw invalidArgument(`${field}.seccomp_profile_path`, `"${deprecatedPath.slice(0, 60)}" is not unconfined, runtime/default or localhost/PATH`);
  }
  if (profile.profileType === SecurityProfile_ProfileType.Unconfined) return "unconfined";
  if (profile.profileType === SecurityProfile_ProfileType.RuntimeDefault) return "";
  if (profile.profileType === SecurityProfile_ProfileType.Localhost) {
    if (!profile.localhostRef.startsWith("/")) throw invalidArgument(`${field}.seccomp.localhost_ref`, "must be an absolute path on the host");
    return profile.localhostRef;
  }
  throw invalidArgument(`${field}.seccomp.profile_type`, `${String(profile.profileType)} is not RuntimeDefault, Unconfined or Localhost`);
}

/** run_as_user / run_as_username / run_as_group as hull's "user[:group]" ("" = the image's USER). */
function userOf(sc: LinuxContainerSecurityContext, field: string): string {
  const group = sc.runAsGroup !== undefined ? `:${sc.runAsGroup.value}` : "";
  if (sc.runAsUser !== undefined) {
    if (sc.runAsUser.value < 0n) throw invalidArgument(`${field}.run_as_user`, `${sc.runAsUser.value} is negative`);
    return `${sc.runAsUser.value}${group}`;
  }
  if (sc.runAsUsername !== "") return `${sc.runAsUsername}${group}`;
  if (group !== "") throw invalidArgument(`${field}.run_as_group`, "needs run_as_user or run_as_username (the kubelet's rule)");
  return "";
}

function pidModeOf(sc: LinuxContainerSecurityContext | undefined, field: string): PodPidMode {
  const ns = sc?.namespaceOptions;
  if (ns === undefined || ns.pid === NamespaceMode.POD) return { mode: "pod" };
  if (ns.pid === NamespaceMode.CONTAINER) return { mode: "container" };
  if (ns.pid === NamespaceMode.NODE) return { mode: "node" };
  if (ns.pid === NamespaceMode.TARGET) {
    if (ns.targetId === "") throw invalidArgument(`${field}.namespace_options.target_id`, "a TARGET PID namespace needs the target container's id");
    return { mode: "target", containerId: ns.targetId };
  }
  throw invalidArgument(`${field}.namespace_options.pid`, `${String(ns.pid)} is not POD, CONTAINER, NODE or TARGET`);
}

function securityOf(sc: LinuxContainerSecurityContext | undefined, field: string): SecurityOptions {
  if (sc === undefined) return SecurityOptions.fromPartial({ allowNewPrivileges: true, seccompProfile: "unconfined" });
  return SecurityOptions.fromPartial({
    capAdd: sc.capabilities?.addCapabilities ?? [],
    capDrop: sc.capabilities?.dropCapabilities ?? [],
    // containerd 2.0: raised in the ambient and inheritable sets and added to the others (see cap_ambient).
    capAmbient: sc.capabilities?.addAmbientCapabilities ?? [],
    allowNewPrivileges: !sc.noNewPrivs,
    seccompProfile: sc.privileged ? "unconfined" : seccompOf(sc.seccomp, sc.seccompProfilePath, field),
    privileged: sc.privileged,
    supplementalGroups: sc.supplementalGroups.map((g, i) => toInt(`${field}.supplemental_groups[${i}]`, g)),
    strictSupplementalGroups: sc.supplementalGroupsPolicy === SupplementalGroupsPolicy.Strict,
    ...(sc.maskedPaths.length > 0 ? { maskedPaths: { paths: [...sc.maskedPaths] } } : {}),
    ...(sc.readonlyPaths.length > 0 ? { readonlyPaths: { paths: [...sc.readonlyPaths] } } : {}),
  });
}

/**
 * The container's own part of the hull config. Kubernetes' command/args
 * rules: command replaces the image's entrypoint (and drops its cmd), args
 * replace its cmd.
 */
export function criToHullConfig(c: CriContainerConfig): CriContainerRequest {
  const field = "config.linux.security_context";
  if (c.CDIDevices.length > 0)
    throw invalidArgument(
      "config.CDI_devices",
      "CDI devices are not supported: hull reads no CDI specs (/etc/cdi, /var/run/cdi); give the device nodes as config.devices",
    );
  const sc = c.linux?.securityContext;
  const config = ContainerConfig.fromPartial({
    image: c.image?.image ?? "",
    command: [...c.args],
    ...(c.command.length > 0 ? { entrypoint: { args: [...c.command] } } : {}),
    env: c.envs.map((e) => `${e.key}=${e.value}`),
    workingDir: c.workingDir,
    user: sc ? userOf(sc, field) : "",
    tty: c.tty,
    stdin: c.stdin,
    labels: { ...c.labels },
    annotations: { ...c.annotations },
    mounts: c.mounts.map(toMount),
    // The CRI's Device is hull.v1's, field for field; an empty permissions is "rwm" there too (containerd, CRI-O).
    devices: c.devices.map((d) => ({ hostPath: d.hostPath, containerPath: d.containerPath, permissions: d.permissions })),
    resources: toResources(c.linux?.resources),
    readOnlyRootfs: sc?.readonlyRootfs ?? false,
    security: securityOf(sc, field),
  });
  const userns = criContainerUserns(sc?.namespaceOptions?.usernsOptions);
  return { config, pid: pidModeOf(sc, field), ...(userns !== undefined ? { userns } : {}), logPath: c.logPath };
}
