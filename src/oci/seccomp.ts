// Seccomp for hull's containers: hull's default profile (as data), the loader
// for a user's profile file (OCI or Docker format), and the pure conversion of
// either into the spec's linux.seccomp for one container's capability set.
//
// The default profile allows by default and refuses (EPERM) the syscalls that
// reach kernel state shared with the host or other tenants: a deny-list rather
// than Docker's allow-list, so no ordinary program breaks on a syscall the list
// forgot. What it does not enumerate the capability set still guards (most
// listed calls also need a capability hull does not grant; the filter holds
// even when the kernel's own checks have a bug, which is its point).
// Like Docker's profile, a rule is lifted when the container is given the
// capability the call exists for: `--cap-add SYS_ADMIN` makes mount work,
// `--cap-add SYS_PTRACE` makes strace work.
import type { SecurityOptions } from "../gen/hull/v1/container.js";
import {
  loadSeccompProfile,
  type OciSeccomp,
  type OciSeccompArg,
  type OciSyscall,
  type SeccompProfile,
  type SeccompRule,
} from "../validation/seccomp-profile.js";

export type { OciSeccomp, OciSeccompArg, OciSyscall, SeccompProfile, SeccompRule };

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;

const deny = (names: string[], excludesCaps?: string[]): SeccompRule => ({
  names,
  action: "SCMP_ACT_ERRNO",
  errnoRet: EPERM,
  ...(excludesCaps ? { excludesCaps } : {}),
});

/**
 * Rules refusing personality(2) for any persona but PER_LINUX (0), PER_LINUX32
 * (8), UNAME26 (0x20000), both (0x20008) and the 0xffffffff query: the others
 * turn off ASLR (ADDR_NO_RANDOMIZE) or make data executable (READ_IMPLIES_EXEC).
 * A deny-list can only say "not in the set" as a union of rules, so the
 * complement of the set in the kernel's 32-bit persona is cut into aligned
 * blocks, each one masked comparison (the upper 32 bits are ignored, as the
 * kernel ignores them).
 */
export function personalityRules(allowed: readonly number[] = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]): SeccompRule[] {
  const rules: SeccompRule[] = [];
  const split = (prefix: number, bit: number, members: readonly number[]): void => {
    if (members.length === 0) {
      // All values sharing the top (31 - bit) bits with `prefix`: one masked comparison.
      const mask = bit === 31 ? 0 : 0xffffffff - (2 ** (bit + 1) - 1);
      rules.push({
        names: ["personality"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: mask, valueTwo: prefix, op: "SCMP_CMP_MASKED_EQ" }],
      });
      return;
    }
    if (bit < 0) return;
    const one = 2 ** bit;
    split(
      prefix,
      bit - 1,
      members.filter((v) => Math.floor(v / one) % 2 === 0),
    );
    split(
      prefix + one,
      bit - 1,
      members.filter((v) => Math.floor(v / one) % 2 === 1),
    );
  };
  split(0, 31, [...new Set(allowed)]);
  return rules;
}

/**
 * hull's default profile. Each group names the capability that lifts it
 * (where one does): the call is refused exactly when the kernel's own check
 * would be the only thing in the way.
 */
export function defaultSeccompProfile(): SeccompProfile {
  const newUser = (names: string[]): SeccompRule => ({
    ...deny(names, ["CAP_SYS_ADMIN"]),
    args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: "SCMP_CMP_MASKED_EQ" }],
  });
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      // Mount table and namespaces: a user namespace would hand the process
      // every capability inside it, and with it the mount API's attack surface.
      deny(
        [
          "mount",
          "umount",
          "umount2",
          "pivot_root",
          "fsopen",
          "fsconfig",
          "fsmount",
          "fspick",
          "move_mount",
          "open_tree",
          "mount_setattr",
          "setns",
          "swapon",
          "swapoff",
          "quotactl",
          "quotactl_fd",
          "fanotify_init",
          "lookup_dcookie",
        ],
        ["CAP_SYS_ADMIN"],
      ),
      // Podman allows unshare and clone without CLONE_NEWUSER (the other
      // namespaces need CAP_SYS_ADMIN anyway): so does hull.
      newUser(["unshare", "clone"]),
      // clone3 takes its flags in a struct seccomp cannot read: ENOSYS makes
      // libc fall back to clone, whose flags the rule above checks.
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS, excludesCaps: ["CAP_SYS_ADMIN"] },
      deny(["init_module", "finit_module", "delete_module"], ["CAP_SYS_MODULE"]),
      deny(["reboot"], ["CAP_SYS_BOOT"]),
      deny(["settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex"], ["CAP_SYS_TIME"]),
      deny(["iopl", "ioperm"], ["CAP_SYS_RAWIO"]),
      deny(["acct"], ["CAP_SYS_PACCT"]),
      deny(["syslog"], ["CAP_SYSLOG", "CAP_SYS_ADMIN"]),
      deny(["vhangup"], ["CAP_SYS_TTY_CONFIG"]),
      deny(["bpf"], ["CAP_BPF", "CAP_SYS_ADMIN"]),
      deny(["perf_event_open"], ["CAP_PERFMON", "CAP_SYS_ADMIN"]),
      // File handles bypass path permissions (the 2014 "shocker" escape).
      deny(["open_by_handle_at", "name_to_handle_at"], ["CAP_DAC_READ_SEARCH"]),
      // NUMA placement is a host-wide resource.
      deny(["mbind", "set_mempolicy", "set_mempolicy_home_node", "move_pages", "migrate_pages"], ["CAP_SYS_NICE"]),
      // ptrace is allowed by Docker on kernels >= 4.8 (where it can no longer
      // skip seccomp). hull refuses it unless CAP_SYS_PTRACE is added, as Podman
      // users do for strace/gdb: one process of a container reading or
      // rewriting another's memory is a privilege the default set lacks.
      deny(["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "userfaultfd"], ["CAP_SYS_PTRACE"]),
      // Never lifted: kexec replaces the host kernel; keyrings are not
      // namespaced; io_uring has been the kernel's richest source of exploits
      // (Docker and containerd refuse it too); the rest are obsolete.
      deny([
        "kexec_load",
        "kexec_file_load",
        "keyctl",
        "add_key",
        "request_key",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "nfsservctl",
        "create_module",
        "get_kernel_syms",
        "query_module",
        "uselib",
        "ustat",
        "sysfs",
        "_sysctl",
      ]),
      ...personalityRules(),
    ],
  };
}

/** The rules that apply to a container holding `caps`, as runc reads them. */
export function resolveSeccomp(profile: SeccompProfile, caps: readonly string[]): OciSeccomp {
  const held = new Set(caps);
  const syscalls: OciSyscall[] = [];
  for (const rule of profile.syscalls) {
    if (rule.includesCaps && !rule.includesCaps.every((c) => held.has(c))) continue;
    if (rule.excludesCaps && rule.excludesCaps.some((c) => held.has(c))) continue;
    syscalls.push({
      names: [...rule.names],
      action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(rule.args && rule.args.length > 0 ? { args: rule.args.map((a) => ({ ...a })) } : {}),
    });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: [...profile.architectures],
    ...(profile.flags ? { flags: [...profile.flags] } : {}),
    syscalls,
  };
}

/** The profile file `security` names, read for generateSpec; undefined for the default profile or "unconfined". */
export async function seccompProfileFor(security: SecurityOptions | undefined): Promise<SeccompProfile | undefined> {
  const name = security?.seccompProfile ?? "";
  if (name === "" || name === "unconfined") return undefined;
  return loadSeccompProfile("config.security.seccomp_profile", name);
}
