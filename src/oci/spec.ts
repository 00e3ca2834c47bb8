// OCI runtime-spec generation: turns a hull ContainerConfig into the
// config.json runc/crun run. Pure: no I/O, so every rule here is unit-tested.
// Defaults follow Podman's (containers/common) so containers behave alike.
import type { ContainerConfig, Mount, SecurityOptions } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import { normaliseCapability, validateMountShape, validateSecurityShape } from "../validation/spec-rules.js";
import {
  ALL_CAPABILITIES,
  ALWAYS_ALLOWED_DEVICES,
  DEFAULT_CAPABILITIES,
  DEFAULT_NOFILE,
  DEFAULT_NPROC,
  DEFAULT_PATH,
  DEFAULT_PIDS_LIMIT,
  MASKED_PATHS,
  READONLY_PATHS,
  RELABEL_OPTIONS,
} from "../domain/spec-defaults.js";
import {
  applyDevices,
  applyPrivileged,
  applyUserNamespace,
  containerNamespaces,
  extraResources,
  oomScoreAdjFor,
  rootfsPropagationFor,
  usesHostUts,
} from "./spec-isolation.js";
import { defaultSeccompProfile, resolveSeccomp, type OciSeccomp, type SeccompProfile } from "./seccomp.js";

export type {
  OciCapabilities,
  OciDevice,
  OciDeviceCgroup,
  OciIdMapping,
  OciLinux,
  OciMount,
  OciNamespace,
  OciProcess,
  OciResources,
  OciRlimit,
  OciRoot,
  OciSpec,
  OciUser,
} from "./spec-types.js";
import type {
  GrantedDevice,
  OciCapabilities,
  OciDevice,
  OciDeviceCgroup,
  OciLinux,
  OciMount,
  OciNamespace,
  OciProcess,
  OciResources,
  OciSpec,
} from "./spec-types.js";

// ---- Inputs ---------------------------------------------------------------

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

export interface HostLimits {
  nofileHard: number;
  nprocHard: number;
  /** hulld's bounding set: ALL (privileged, cap_add ALL) means these; absent = every capability. */
  boundingCapabilities?: readonly string[];
  /** hulld's own oom_score_adj when it may not lower it (no CAP_SYS_RESOURCE): no container asks for less. */
  oomScoreAdjFloor?: number;
}

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  rootfs: string;
  user: ResolvedUser;
  hostLimits: HostLimits;
  cgroupsPath: string;
  /**
   * The profile file config.security.seccomp_profile names, read by the caller
   * (loadSeccompProfile): this module does no I/O. Required when a path is set.
   */
  seccompProfile?: SeccompProfile | undefined;
  /** The host's devices, for a privileged container (read by the caller: readHostDevices in host-devices.ts). */
  hostDevices?: readonly OciDevice[];
  /** config.devices as the host has them (read by the caller: resolveDevices in host-devices.ts). */
  devices?: readonly GrantedDevice[];
}

// ---- Defaults ---------------------------------------------------------------

export {
  DEFAULT_CAPABILITIES,
  DEFAULT_NOFILE,
  DEFAULT_NPROC,
  DEFAULT_PATH,
  DEFAULT_PIDS_LIMIT,
  MASKED_PATHS,
  READONLY_PATHS,
} from "../domain/spec-defaults.js";

function standardMounts(): OciMount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  ];
}

// runc creates /dev/null, zero, full, random, urandom, tty (and the pts/ptmx
// pair) itself and allows them whatever the spec says; the cgroup rules say
// so too, after a deny-all for everything else.
function defaultDeviceRules(): OciDeviceCgroup[] {
  return [
    { allow: false, access: "rwm" },
    ...ALWAYS_ALLOWED_DEVICES.map(({ type, major, minor }): OciDeviceCgroup => ({
      allow: true,
      type,
      major,
      ...(minor !== undefined ? { minor } : {}),
      access: "rwm",
    })),
  ];
}

// ---- Generation ----------------------------------------------------------

/** Merges KEY=VALUE lists; a later key replaces the value but keeps the first position. */
export function mergeEnv(...lists: string[][]): string[] {
  const byKey = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list) {
      const eq = entry.indexOf("=");
      // runc refuses entries without "=", so they never reach the spec.
      if (eq <= 0) continue;
      byKey.set(entry.slice(0, eq), entry);
    }
  }
  return [...byKey.values()];
}

/**
 * The capability set, merged as Podman's (containers/common MergeCapabilities):
 * drop ALL starts from nothing and keeps only what is added; add ALL grants
 * every capability but those dropped; otherwise default + add - drop.
 */
export function containerCapabilities(security: SecurityOptions | undefined, bounding: readonly string[] = ALL_CAPABILITIES): string[] {
  // "Every capability" is every capability hulld itself may pass on (runc fails "unable to apply caps" otherwise).
  const all = ALL_CAPABILITIES.filter((c) => bounding.includes(c));
  if (security?.privileged) return [...all].sort();
  const norm = (names: readonly string[]): string[] => names.map((n) => normaliseCapability(n) ?? n);
  const add = norm(security?.capAdd ?? []);
  const drop = norm(security?.capDrop ?? []);
  const base = drop.includes("ALL") ? [] : add.includes("ALL") ? [...all] : [...DEFAULT_CAPABILITIES];
  const added = add.includes("ALL") ? [...all] : add;
  const out = new Set([...base, ...added]);
  if (!drop.includes("ALL")) for (const c of drop) out.delete(c);
  // Ambient ones must be permitted and effective too (containerd adds them after the drops).
  for (const c of norm(security?.capAmbient ?? [])) out.add(c);
  // Sorted, as Podman's: the same request always reads the same in the spec.
  return [...out].filter((c) => all.includes(c)).sort();
}

/**
 * The process's capability sets. Ambient capabilities are also inheritable:
 * the kernel keeps an ambient one only while it is permitted and inheritable
 * (PR_CAP_AMBIENT_RAISE), and runc raises them after the setuid, so a
 * non-root user's command keeps them across execve (containerd's
 * WithAmbientCapabilities). Those hulld itself lacks are left out, as in
 * containerCapabilities.
 */
function capabilitySets(caps: readonly string[], security: SecurityOptions | undefined): OciCapabilities {
  const ambient = [...new Set((security?.capAmbient ?? []).map((n) => normaliseCapability(n) ?? n))].filter((c) => caps.includes(c)).sort();
  const sets: OciCapabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
  return ambient.length > 0 ? { ...sets, inheritable: ambient, ambient: [...ambient] } : sets;
}

function userMount(m: Mount, index: number): OciMount {
  validateMountShape(m, index);
  const type = m.type === "" ? "bind" : m.type;
  // z/Z ask for SELinux relabelling; there are no labels to set here.
  const given = m.options.filter((o) => !RELABEL_OPTIONS.has(o));
  if (type === "bind") {
    const opts = given.filter((o) => o !== "bind" && o !== "rbind");
    // rprivate keeps container mount events from propagating back to the host.
    if (!opts.some((o) => /^r?(shared|slave|private|unbindable)$/.test(o))) opts.push("rprivate");
    return { destination: m.destination, type: "bind", source: m.source, options: ["rbind", ...opts] };
  }
  // Init turns each into a bind of its mounted dir (withImageVolumeSources); one left here would have no source.
  if (type === "image")
    throw new HullError("INTERNAL", `mounts[${index}] is an image volume (${m.source}) not yet resolved to its mounted dir`, { image: m.source });
  if (type === "tmpfs") {
    return { destination: m.destination, type: "tmpfs", source: "tmpfs", options: given.length > 0 ? given : ["nosuid", "nodev", "mode=1777"] };
  }
  return { destination: m.destination, type: "proc", source: "proc", options: given.length > 0 ? given : ["nosuid", "noexec", "nodev"] };
}

// As Podman does: a user mount on a standard destination (say /dev/shm) replaces it.
function withUserMounts(standard: OciMount[], user: OciMount[]): OciMount[] {
  const taken = new Set(user.map((m) => m.destination.replace(/\/+$/, "")));
  return [...standard.filter((m) => !taken.has(m.destination)), ...user];
}

function resources(config: ContainerConfig): OciResources {
  const out: OciResources = { devices: defaultDeviceRules() };
  const r = config.resources;
  // 0 (or no Resources) is Podman's default limit: a fork bomb stays inside; -1 is runc's "max".
  const pids = r?.pidsLimit ?? 0;
  out.pids = { limit: pids === 0 ? DEFAULT_PIDS_LIMIT : pids < 0 ? -1 : pids };
  if (!r) return out;
  if (r.memoryLimitBytes > 0) out.memory = { limit: r.memoryLimitBytes };
  const cpu: NonNullable<OciResources["cpu"]> = {};
  if (r.cpuShares > 0) cpu.shares = r.cpuShares;
  // -1 is the kernel's "no quota" and passes through; 0 means unset.
  if (r.cpuQuotaUs !== 0) cpu.quota = r.cpuQuotaUs;
  if (r.cpuPeriodUs > 0) cpu.period = r.cpuPeriodUs;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  return out;
}

/** The cgroup limits of a config, as config.json and `runc update --resources` take them. */
export function linuxResources(config: ContainerConfig): OciResources {
  const limits = resources(config);
  extraResources(config, limits);
  return limits;
}

function seccomp(input: SpecInput, caps: readonly string[]): OciSeccomp | undefined {
  const name = input.config.security?.seccompProfile ?? "";
  if (name === "unconfined") return undefined;
  if (name === "") return resolveSeccomp(defaultSeccompProfile(), caps);
  if (!input.seccompProfile) {
    throw new HullError("INTERNAL", `container ${input.id}: seccomp profile "${name}" was not loaded before generating the spec`);
  }
  return resolveSeccomp(input.seccompProfile, caps);
}

/**
 * The process part of the spec, shared by the container's own process and its
 * exec sessions so both get exactly the same privileges.
 */
function buildProcess(config: ContainerConfig, user: ResolvedUser, hostLimits: HostLimits, hostname: string, caps: string[]): OciProcess {
  const nofile = Math.min(DEFAULT_NOFILE, hostLimits.nofileHard);
  const nproc = Math.min(DEFAULT_NPROC, hostLimits.nprocHard);
  const env = mergeEnv([`PATH=${DEFAULT_PATH}`], config.tty ? ["TERM=xterm"] : [], [`HOSTNAME=${hostname}`, `HOME=${user.home}`], config.env);
  return {
    terminal: config.tty,
    user: { uid: user.uid, gid: user.gid, ...groupsOf(user, config.security) },
    args: [...config.command],
    env,
    cwd: config.workingDir !== "" ? config.workingDir : "/",
    capabilities: capabilitySets(caps, config.security),
    rlimits: [
      { type: "RLIMIT_NOFILE", hard: nofile, soft: nofile },
      { type: "RLIMIT_NPROC", hard: nproc, soft: nproc },
    ],
    // Setuid binaries and file capabilities cannot raise privileges unless asked for.
    noNewPrivileges: config.security?.allowNewPrivileges !== true,
  };
}

/**
 * The process's supplementary groups: the image's /etc/group memberships of
 * the user plus supplemental_groups (the CRI's Merge policy, Docker's
 * --group-add), or only supplemental_groups (Strict).
 */
export function groupsOf(user: ResolvedUser, security: SecurityOptions | undefined): { additionalGids?: number[] } {
  const extra = security?.supplementalGroups ?? [];
  const fromImage = security?.strictSupplementalGroups ? [] : user.additionalGids;
  const gids = [...new Set([...fromImage, ...extra])].filter((g) => g !== user.gid || extra.includes(g));
  return gids.length > 0 ? { additionalGids: gids } : {};
}

function hostnameOf(id: string, config: ContainerConfig): string {
  return config.hostname !== "" ? config.hostname : id.slice(0, 12);
}

/** Builds the OCI spec runc 1.1.5 accepts for one container. */
export function generateSpec(input: SpecInput): OciSpec {
  const { config } = input;
  validateSecurityShape(config.security);
  const hostname = hostnameOf(input.id, config);
  const caps = containerCapabilities(config.security, input.hostLimits.boundingCapabilities);

  // A PID namespace of its own unless it joins a pod's: the container sees its own processes only, its command as PID 1.
  // "host" and "" share the host's network; "none" gets an empty namespace (lo only); a path joins a pod's.
  const namespaces: OciNamespace[] = containerNamespaces(config);
  const limits = linuxResources(config);
  const security = config.security;
  const linux: OciLinux = {
    namespaces,
    resources: limits,
    cgroupsPath: input.cgroupsPath,
    maskedPaths: security?.maskedPaths ? [...security.maskedPaths.paths] : [...MASKED_PATHS],
    readonlyPaths: security?.readonlyPaths ? [...security.readonlyPaths.paths] : [...READONLY_PATHS],
  };
  if (Object.keys(config.sysctls).length > 0) linux.sysctl = { ...config.sysctls };
  const propagation = rootfsPropagationFor(config.mounts);
  if (propagation) linux.rootfsPropagation = propagation;
  const filter = seccomp(input, caps);
  if (filter) linux.seccomp = filter;

  const process = buildProcess(config, input.user, input.hostLimits, hostname, caps);
  const oom = oomScoreAdjFor(config, input.hostLimits.oomScoreAdjFloor);
  if (oom !== undefined) process.oomScoreAdj = oom;
  const spec: OciSpec = {
    ociVersion: "1.0.2",
    process,
    root: { path: input.rootfs, readonly: config.readOnlyRootfs },
    // The host's UTS namespace is not runc's to rename.
    ...(usesHostUts(config) ? {} : { hostname }),
    mounts: withUserMounts(standardMounts(), config.mounts.map(userMount)),
    linux,
    annotations: { ...config.annotations },
  };
  applyUserNamespace(spec, config);
  applyDevices(spec, input.devices ?? []);
  if (security?.privileged) applyPrivileged(spec, input.hostDevices ?? []);
  return spec;
}

// ---- Exec processes ---------------------------------------------------------

export interface ExecProcessInput {
  id: string;
  /** The container's config as created: its env, hostname and working dir are the exec's defaults. */
  config: ContainerConfig;
  /** The exec's user, resolved against the container's rootfs. */
  user: ResolvedUser;
  hostLimits: HostLimits;
  command: string[];
  /** Added to the container's env; a key already there gets the exec's value. */
  env: string[];
  /** "" = the container's working dir. */
  workingDir: string;
  tty: boolean;
  consoleSize?: { height: number; width: number };
}

/**
 * The process.json `runc exec --process` runs: built by the same rules as the
 * container's own process (capabilities, rlimits, no_new_privs, PATH/HOSTNAME/
 * HOME/TERM defaults), so an exec has exactly the container's privileges. The
 * seccomp filter, namespaces and masked paths runc takes from the container.
 */
export function generateExecProcess(input: ExecProcessInput): OciProcess {
  const config: ContainerConfig = {
    ...input.config,
    command: [...input.command],
    env: [...input.config.env, ...input.env],
    workingDir: input.workingDir !== "" ? input.workingDir : input.config.workingDir,
    tty: input.tty,
  };
  const process = buildProcess(
    config,
    input.user,
    input.hostLimits,
    hostnameOf(input.id, config),
    containerCapabilities(config.security, input.hostLimits.boundingCapabilities),
  );
  if (input.tty && input.consoleSize && input.consoleSize.height > 0 && input.consoleSize.width > 0) {
    process.consoleSize = { height: input.consoleSize.height, width: input.consoleSize.width };
  }
  return process;
}
