// OCI runtime-spec generation: turns a hull ContainerConfig into the
// config.json runc/crun run. Pure: no I/O, so every rule here is unit-tested.
// Defaults follow Podman's (containers/common) so containers behave alike.
import type { ContainerConfig, Mount } from "../gen/hull/v1/container.js";
import { validateMountShape } from "./validate.js";

// ---- The subset of runtime-spec 1.0 hull writes -------------------------

export interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
  umask?: number;
}

export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}

export interface OciRoot {
  path: string;
  readonly?: boolean;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciNamespace {
  type: "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";
  path?: string;
}

export interface OciDeviceCgroup {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices?: OciDeviceCgroup[];
  memory?: { limit?: number; reservation?: number; swap?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

export interface OciLinux {
  namespaces: OciNamespace[];
  resources?: OciResources;
  cgroupsPath?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: OciRoot;
  hostname?: string;
  mounts: OciMount[];
  linux: OciLinux;
  annotations?: Record<string, string>;
}

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
}

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  rootfs: string;
  user: ResolvedUser;
  hostLimits: HostLimits;
  cgroupsPath: string;
}

// ---- Defaults ---------------------------------------------------------------

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Podman's defaults; the host's hard limit caps them because setrlimit in the
// container fails when asked for more (nofile hard is 20000 on some hosts).
export const DEFAULT_NOFILE = 1048576;
export const DEFAULT_NPROC = 4194304;

export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
];

export const MASKED_PATHS: readonly string[] = [
  "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block",
];

export const READONLY_PATHS: readonly string[] = [
  "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
];

function standardMounts(): OciMount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts", type: "devpts", source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  ];
}

// runc creates /dev/null, zero, full, random, urandom, tty (and the pts/ptmx
// pair) itself; the cgroup must let the container use exactly those.
function defaultDeviceRules(): OciDeviceCgroup[] {
  const allowChar = (major: number, minor: number): OciDeviceCgroup => ({ allow: true, type: "c", major, minor, access: "rwm" });
  return [
    { allow: false, access: "rwm" },
    allowChar(1, 3), // null
    allowChar(1, 5), // zero
    allowChar(1, 7), // full
    allowChar(1, 8), // random
    allowChar(1, 9), // urandom
    allowChar(5, 0), // tty
    allowChar(5, 2), // ptmx
    { allow: true, type: "c", major: 136, access: "rwm" }, // /dev/pts/*
  ];
}

// ---- Generation -----------------------------------------------------------

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

function userMount(m: Mount, index: number): OciMount {
  validateMountShape(m, index);
  const type = m.type === "" ? "bind" : m.type;
  if (type === "bind") {
    const opts = m.options.filter((o) => o !== "bind" && o !== "rbind");
    // rprivate keeps container mount events from propagating back to the host.
    if (!opts.some((o) => /^r?(shared|slave|private|unbindable)$/.test(o))) opts.push("rprivate");
    return { destination: m.destination, type: "bind", source: m.source, options: ["rbind", ...opts] };
  }
  if (type === "tmpfs") {
    return { destination: m.destination, type: "tmpfs", source: "tmpfs", options: m.options.length > 0 ? [...m.options] : ["nosuid", "nodev", "mode=1777"] };
  }
  return { destination: m.destination, type: "proc", source: "proc", options: m.options.length > 0 ? [...m.options] : ["nosuid", "noexec", "nodev"] };
}

// As Podman does: a user mount on a standard destination (say /dev/shm) replaces it.
function withUserMounts(user: OciMount[]): OciMount[] {
  const taken = new Set(user.map((m) => m.destination.replace(/\/+$/, "")));
  return [...standardMounts().filter((m) => !taken.has(m.destination)), ...user];
}

function resources(config: ContainerConfig): OciResources {
  const out: OciResources = { devices: defaultDeviceRules() };
  const r = config.resources;
  if (!r) return out;
  if (r.memoryLimitBytes > 0) out.memory = { limit: r.memoryLimitBytes };
  const cpu: NonNullable<OciResources["cpu"]> = {};
  if (r.cpuShares > 0) cpu.shares = r.cpuShares;
  // -1 is the kernel's "no quota" and passes through; 0 means unset.
  if (r.cpuQuotaUs !== 0) cpu.quota = r.cpuQuotaUs;
  if (r.cpuPeriodUs > 0) cpu.period = r.cpuPeriodUs;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.pidsLimit !== 0) out.pids = { limit: r.pidsLimit };
  return out;
}

/** Builds the OCI spec runc 1.1.5 accepts for one container. */
export function generateSpec(input: SpecInput): OciSpec {
  const { config, user } = input;
  const hostname = config.hostname !== "" ? config.hostname : input.id.slice(0, 12);
  const nofile = Math.min(DEFAULT_NOFILE, input.hostLimits.nofileHard);
  const nproc = Math.min(DEFAULT_NPROC, input.hostLimits.nprocHard);
  const caps = [...DEFAULT_CAPABILITIES];

  const namespaces: OciNamespace[] = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  // "host" and "" share the host's network; "none" gets an empty namespace (lo only).
  if (config.networkMode === "none") namespaces.push({ type: "network" });

  const env = mergeEnv(
    [`PATH=${DEFAULT_PATH}`],
    config.tty ? ["TERM=xterm"] : [],
    [`HOSTNAME=${hostname}`, `HOME=${user.home}`],
    config.env,
  );

  const spec: OciSpec = {
    ociVersion: "1.0.2",
    process: {
      terminal: config.tty,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length > 0 ? { additionalGids: [...user.additionalGids] } : {}) },
      args: [...config.command],
      env,
      cwd: config.workingDir !== "" ? config.workingDir : "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [
        { type: "RLIMIT_NOFILE", hard: nofile, soft: nofile },
        { type: "RLIMIT_NPROC", hard: nproc, soft: nproc },
      ],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: config.readOnlyRootfs },
    hostname,
    mounts: withUserMounts(config.mounts.map(userMount)),
    linux: {
      namespaces,
      resources: resources(config),
      cgroupsPath: input.cgroupsPath,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
    annotations: { ...config.annotations },
  };
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
 * HOME/TERM defaults), so an exec has exactly the container's privileges.
 */
export function generateExecProcess(input: ExecProcessInput): OciProcess {
  const config: ContainerConfig = {
    ...input.config,
    command: [...input.command],
    env: [...input.config.env, ...input.env],
    workingDir: input.workingDir !== "" ? input.workingDir : input.config.workingDir,
    tty: input.tty,
  };
  const { process } = generateSpec({ id: input.id, config, rootfs: "/", user: input.user, hostLimits: input.hostLimits, cgroupsPath: "" });
  if (input.tty && input.consoleSize && input.consoleSize.height > 0 && input.consoleSize.width > 0) {
    process.consoleSize = { height: input.consoleSize.height, width: input.consoleSize.width };
  }
  return process;
}
