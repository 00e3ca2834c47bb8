// The data behind hull's safe default OCI spec, kept apart from the rules in
// spec.ts. Values follow Podman's (containers/common) so containers behave alike.

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Podman's defaults; the host's hard limit caps them because setrlimit in the
// container fails when asked for more (nofile hard is 20000 on some hosts).
export const DEFAULT_NOFILE = 1048576;
export const DEFAULT_NPROC = 4194304;

/** Podman's default pids.max for a container (Resources.pids_limit 0). */
export const DEFAULT_PIDS_LIMIT = 2048;

/** UserNamespace.size 0: the 65536 ids every tool (newuidmap, Podman's --userns=auto) hands out. */
export const DEFAULT_USERNS_SIZE = 65536;

/** One id range of a user namespace: container ids 0..size-1 are host ids hostId..hostId+size-1. */
export interface IdRange {
  hostId: number;
  size: number;
}

/** A user namespace's uid and gid mappings (the same range unless a request maps gids apart). */
export interface IdMappings {
  uid: IdRange;
  gid: IdRange;
}

/**
 * Every Linux capability, in bit order: index i is bit i of CapEff/CapBnd in
 * /proc/PID/status (linux/capability.h). Names outside this list are refused.
 */
export const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/**
 * Podman 4's default set: no CAP_SYS_ADMIN, CAP_NET_RAW, CAP_MKNOD or
 * CAP_AUDIT_WRITE (Docker still grants the last three).
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP",
  "CAP_SETGID",
  "CAP_SETPCAP",
  "CAP_SETUID",
  "CAP_SYS_CHROOT",
];

/**
 * Host information the kernel exposes per host rather than per namespace:
 * runc bind-mounts /dev/null over files and an empty read-only tmpfs over dirs.
 * /sys/devices/virtual/powercap is Podman's addition (RAPL energy counters leak
 * what other tenants compute).
 */
export const MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/fs/selinux",
  "/sys/dev/block",
  "/sys/devices/virtual/powercap",
];

/** Host-wide knobs under /proc that must stay visible but not writable. */
export const READONLY_PATHS: readonly string[] = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** Mount options a user mount may carry; anything else is refused (runc would pass it to mount(2) as data). */
export const MOUNT_FLAG_OPTIONS: ReadonlySet<string> = new Set([
  "ro",
  "rw",
  "nosuid",
  "suid",
  "nodev",
  "dev",
  "noexec",
  "exec",
  "bind",
  "rbind",
  "private",
  "rprivate",
  "slave",
  "rslave",
  "shared",
  "rshared",
  "unbindable",
  "runbindable",
  "noatime",
  "relatime",
  "strictatime",
  "nodiratime",
  // runc's recursive read-only (mount_setattr AT_RECURSIVE): the CRI's recursive_read_only.
  "rro",
]);

/** SELinux relabel requests (Podman's z/Z): accepted for compatibility, dropped: no SELinux labels here. */
export const RELABEL_OPTIONS: ReadonlySet<string> = new Set(["z", "Z"]);

/** key=value options only tmpfs takes. */
export const TMPFS_VALUE_OPTIONS: Readonly<Record<string, RegExp>> = {
  size: /^\d+[kmg%]?$/i,
  mode: /^[0-7]{3,4}$/,
  uid: /^\d+$/,
  gid: /^\d+$/,
  nr_inodes: /^\d+[kmg]?$/i,
};

/** A user mount may go under these but never replace them: the container would lose its kernel interfaces. */
export const RESERVED_DESTINATIONS: ReadonlySet<string> = new Set(["/", "/proc", "/sys", "/dev"]);

/** A device (or, without a minor, a major's every device) runc 1.1 always allows. */
export interface AlwaysAllowedDevice {
  name: string;
  type: "c";
  major: number;
  minor?: number;
}

/**
 * The devices runc 1.1 allows every container rwm (specconv's
 * AllowedDevices, appended after the spec's own rules, so no spec can narrow
 * them): /dev/null, zero, full, random, urandom, tty, the ptmx pair, tun.
 * hull's default cgroup rules name them too, so the spec says what holds.
 */
export const ALWAYS_ALLOWED_DEVICES: readonly AlwaysAllowedDevice[] = [
  { name: "/dev/null", type: "c", major: 1, minor: 3 },
  { name: "/dev/zero", type: "c", major: 1, minor: 5 },
  { name: "/dev/full", type: "c", major: 1, minor: 7 },
  { name: "/dev/random", type: "c", major: 1, minor: 8 },
  { name: "/dev/urandom", type: "c", major: 1, minor: 9 },
  { name: "/dev/tty", type: "c", major: 5, minor: 0 },
  { name: "/dev/ptmx", type: "c", major: 5, minor: 2 },
  { name: "/dev/pts/*", type: "c", major: 136 },
  { name: "/dev/net/tun", type: "c", major: 10, minor: 200 },
];
