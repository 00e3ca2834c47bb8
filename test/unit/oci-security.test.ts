// The security side of generateSpec (src/oci/spec.ts) without a daemon:
// Podman's default capabilities and cap_add/cap_drop, no_new_privileges for
// the container and its execs, the PID namespace and masked /proc paths, user
// namespaces (private and a pod's), the default seccomp filter, personality
// rules and profile files (oci/seccomp.ts, validation/seccomp-profile.ts), and
// the CLI's --cap-add/--cap-drop/--security-opt/--userns (cli/create.ts).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { NamespaceOptions, type SecurityOptions, UserNamespace } from "../../src/gen/hull/v1/container.js";
import { HullError } from "../../src/errors.js";
import { generateSpec, generateExecProcess, type SpecInput } from "../../src/oci/spec.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "../../src/domain/spec-defaults.js";
import { personalityRules, type OciSeccomp } from "../../src/oci/seccomp.js";
import { parseSeccompProfile, kernelAtLeast } from "../../src/validation/seccomp-profile.js";
import { validateSecurityShape } from "../../src/validation/spec-rules.js";
import { buildSecurity, parseUserns } from "../../src/cli/create.js";
import { UsageError } from "../../src/cli/parse.js";
import { ID, input, security, isInvalid } from "../helpers/oci-spec-input.js";

/** The rules of `filter` that refuse `name` for the given first argument. */
function refuses(filter: OciSeccomp | undefined, name: string, arg0 = 0): boolean {
  return (filter?.syscalls ?? []).some(
    (r) =>
      r.names.includes(name) &&
      r.action === "SCMP_ACT_ERRNO" &&
      (r.args ?? []).every((a) =>
        a.op === "SCMP_CMP_MASKED_EQ" ? (BigInt(arg0) & BigInt(a.value)) === BigInt(a.valueTwo ?? 0) : a.op === "SCMP_CMP_EQ" && arg0 === a.value,
      ),
  );
}

describe("safe defaults: capabilities, no_new_privs, namespaces, masked paths", () => {
  const caps = (sec: Partial<SecurityOptions>): string[] => generateSpec(input({ security: security(sec) })).process.capabilities?.bounding ?? [];

  test("Podman's default set, add/drop by any spelling, ALL on either side", () => {
    assert.deepEqual(caps({}), [...DEFAULT_CAPABILITIES]);
    assert.ok(!caps({}).includes("CAP_SYS_ADMIN") && !caps({}).includes("CAP_NET_RAW") && !caps({}).includes("CAP_SYS_MODULE"));
    const added = caps({ capAdd: ["net_raw", "CAP_SYS_ADMIN", "sys_ptrace"], capDrop: ["chown", "CAP_KILL"] });
    for (const c of ["CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SETUID"]) assert.ok(added.includes(c), c);
    assert.ok(!added.includes("CAP_CHOWN") && !added.includes("CAP_KILL"));
    assert.deepEqual(caps({ capDrop: ["ALL"], capAdd: ["NET_BIND_SERVICE"] }), ["CAP_NET_BIND_SERVICE"]);
    assert.deepEqual(caps({ capDrop: ["all"] }), []);
    assert.deepEqual(caps({ capAdd: ["ALL"], capDrop: ["SYS_MODULE"] }).length, ALL_CAPABILITIES.length - 1);
    const p = generateSpec(input({ security: security({ capAdd: ["NET_RAW"] }) })).process.capabilities;
    assert.deepEqual(p?.effective, p?.bounding);
    assert.deepEqual(p?.permitted, p?.bounding);
  });

  test("unknown or contradictory capabilities are refused, naming the entry", () => {
    assert.throws(() => validateSecurityShape(security({ capAdd: ["NET_RAW", "SYS_EVERYTHING"] }), "config"), isInvalid("config.security.cap_add[1]"));
    assert.throws(() => validateSecurityShape(security({ capDrop: ["CAP_"] })), isInvalid("security.cap_drop[0]"));
    assert.throws(() => validateSecurityShape(security({ capAdd: ["net_raw"], capDrop: ["CAP_NET_RAW"] })), isInvalid("security.cap_add"));
    assert.throws(() => generateSpec(input({ security: security({ capAdd: ["bogus"] }) })), isInvalid("security.cap_add[0]"));
  });

  test("no_new_privileges unless allowed, for the container and its execs alike", () => {
    assert.equal(generateSpec(input()).process.noNewPrivileges, true);
    assert.equal(generateSpec(input({ security: security() })).process.noNewPrivileges, true);
    const allowed = input({ security: security({ allowNewPrivileges: true, capAdd: ["SYS_ADMIN"] }) });
    assert.equal(generateSpec(allowed).process.noNewPrivileges, false);
    const exec = generateExecProcess({
      id: ID,
      config: allowed.config,
      user: allowed.user,
      hostLimits: allowed.hostLimits,
      command: ["sh"],
      env: [],
      workingDir: "",
      tty: false,
    });
    assert.equal(exec.noNewPrivileges, false);
    assert.deepEqual(exec.capabilities, generateSpec(allowed).process.capabilities);
  });

  test("a PID namespace always; masked and read-only /proc paths as Podman's", () => {
    const s = generateSpec(input());
    assert.equal(s.linux.namespaces[0]?.type, "pid");
    for (const p of [
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
    ]) {
      assert.ok(s.linux.maskedPaths?.includes(p), p);
    }
    assert.deepEqual(s.linux.readonlyPaths, ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
  });

  test("user namespace: private maps 0..size-1 onto host_id.., /sys becomes a read-only bind", () => {
    const ns = (userNamespace: Partial<UserNamespace> | undefined, networkMode = "") =>
      generateSpec(input({ networkMode, security: security({ userNamespace: userNamespace && UserNamespace.fromPartial(userNamespace) }) }));
    const s = ns({ mode: "private", hostId: 100000, size: 0 });
    assert.ok(s.linux.namespaces.some((n) => n.type === "user"));
    assert.deepEqual(s.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.deepEqual(s.linux.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    const sys = s.mounts.find((m) => m.destination === "/sys");
    assert.equal(sys?.type, "bind");
    assert.ok(sys?.options?.includes("ro"));
    assert.equal(ns({ mode: "private", hostId: 1, size: 10 }, "none").mounts.find((m) => m.destination === "/sys")?.type, "sysfs");
    for (const host of [undefined, { mode: "host", hostId: 0, size: 0 }, { mode: "", hostId: 0, size: 0 }]) {
      const h = ns(host);
      assert.ok(!h.linux.namespaces.some((n) => n.type === "user"));
      assert.equal(h.linux.uidMappings, undefined);
    }
    const bad = (userNamespace: Partial<UserNamespace>) => () =>
      validateSecurityShape(security({ userNamespace: UserNamespace.fromPartial(userNamespace) }), "config");
    assert.throws(bad({ mode: "shared", hostId: 0, size: 0 }), isInvalid("config.security.user_namespace.mode"));
    assert.throws(bad({ mode: "host", hostId: 5, size: 0 }), isInvalid("config.security.user_namespace.mode"));
    assert.throws(bad({ mode: "private", hostId: 0xffffffff, size: 1 }), isInvalid("config.security.user_namespace.size"));
    assert.throws(bad({ mode: "private", hostId: 0xffff0000, size: 0 }), isInvalid("config.security.user_namespace.size"));
    bad({ mode: "private", hostId: 0xfffffffe - 9, size: 10 })();
    assert.throws(bad({ mode: "private", hostId: 1000, gidSize: 5 }), isInvalid("config.security.user_namespace.gid_size"));
    assert.throws(bad({ mode: "private", hostId: 1000, gidHostId: 0xfffffff0, gidSize: 100 }), isInvalid("config.security.user_namespace.gid_size"));
    assert.throws(bad({ mode: "host", gidHostId: 0 }), isInvalid("config.security.user_namespace.mode"));
  });

  test("user namespace of a pod: joined by path with its mapping, gids mapped apart, sysfs of its own in the pod's network", () => {
    const podUserns = UserNamespace.fromPartial({ mode: "private", hostId: 1000, size: 100000, gidHostId: 2000, gidSize: 50000 });
    const joined = (network: string, user: string) =>
      generateSpec(input({ namespaces: NamespaceOptions.fromPartial({ network, user }), security: security({ userNamespace: podUserns }) }));
    const s = joined("/run/hull/pods/p/net", "/run/hull/pods/p/user");
    assert.deepEqual(
      s.linux.namespaces.find((n) => n.type === "user"),
      { type: "user", path: "/run/hull/pods/p/user" },
    );
    assert.deepEqual(s.linux.uidMappings, [{ containerID: 0, hostID: 1000, size: 100000 }]);
    assert.deepEqual(s.linux.gidMappings, [{ containerID: 0, hostID: 2000, size: 50000 }]);
    // The pod's user namespace owns its network namespace: the kernel lets it mount sysfs.
    assert.equal(s.mounts.find((m) => m.destination === "/sys")?.type, "sysfs");
    // A pod's network namespace entered from a new user namespace is not the user namespace's: the host's /sys instead.
    assert.equal(joined("/run/hull/pods/p/net", "").mounts.find((m) => m.destination === "/sys")?.type, "bind");
    assert.equal(joined("host", "/run/hull/pods/p/user").mounts.find((m) => m.destination === "/sys")?.type, "bind");
  });
});

describe("seccomp", () => {
  const filter = (sec: Partial<SecurityOptions> = {}, extra: Partial<SpecInput> = {}): OciSeccomp | undefined =>
    generateSpec(input({ security: security(sec) }, extra)).linux.seccomp;

  test("the default profile refuses what reaches the host, and lifts a rule with its capability", () => {
    const f = filter();
    assert.equal(f?.defaultAction, "SCMP_ACT_ALLOW");
    assert.deepEqual(f?.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    for (const name of [
      "mount",
      "umount2",
      "pivot_root",
      "init_module",
      "finit_module",
      "delete_module",
      "kexec_load",
      "kexec_file_load",
      "reboot",
      "swapon",
      "swapoff",
      "acct",
      "settimeofday",
      "clock_settime",
      "clock_adjtime",
      "adjtimex",
      "iopl",
      "ioperm",
      "quotactl",
      "lookup_dcookie",
      "open_by_handle_at",
      "name_to_handle_at",
      "bpf",
      "perf_event_open",
      "userfaultfd",
      "keyctl",
      "add_key",
      "request_key",
      "setns",
      "syslog",
      "vhangup",
      "nfsservctl",
      "create_module",
      "get_kernel_syms",
      "query_module",
      "uselib",
      "ustat",
      "sysfs",
      "_sysctl",
      "move_pages",
      "mbind",
      "set_mempolicy",
      "process_vm_readv",
      "process_vm_writev",
      "ptrace",
      "fsopen",
      "fsmount",
      "move_mount",
      "open_tree",
      "fsconfig",
      "fspick",
      "mount_setattr",
    ]) {
      assert.ok(refuses(f, name), name);
    }
    assert.ok(refuses(f, "clone", 0x10000000 | 17) && !refuses(f, "clone", 0x01200011), "clone: only CLONE_NEWUSER");
    assert.ok(refuses(f, "unshare", 0x10000000) && !refuses(f, "unshare", 0x200), "unshare: only CLONE_NEWUSER");
    assert.equal(f?.syscalls?.find((r) => r.names.includes("clone3"))?.errnoRet, 38, "clone3: ENOSYS, so libc falls back to clone");
    assert.ok(!refuses(f, "read") && !refuses(f, "execve") && !refuses(f, "chroot"));
    const admin = filter({ capAdd: ["SYS_ADMIN"] });
    assert.ok(!refuses(admin, "mount") && !refuses(admin, "clone", 0x10000000) && refuses(admin, "init_module") && refuses(admin, "kexec_load"));
    assert.ok(!refuses(filter({ capAdd: ["SYS_PTRACE"] }), "ptrace"));
    assert.equal(filter({ seccompProfile: "unconfined" }), undefined);
  });

  test("personality: every persona but the five Docker allows is refused", () => {
    const rules = { syscalls: personalityRules(), defaultAction: "SCMP_ACT_ALLOW" as const };
    for (const ok of [0, 8, 0x20000, 0x20008, 0xffffffff]) assert.ok(!refuses(rules, "personality", ok), ok.toString(16));
    for (const bad of [0x0040000, 0x0400000, 0x0100000, 1, 0xfffffffe, 0x20009]) assert.ok(refuses(rules, "personality", bad), bad.toString(16));
    const allowed = new Set([0, 8, 0x20000, 0x20008, 0xffffffff]);
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (x) => refuses(rules, "personality", x) === !allowed.has(x)));
  });

  test("a profile file: OCI or Docker format, conditions settled, caps at spec time", () => {
    const host = { goarch: "amd64", scmp: "SCMP_ARCH_X86_64", kernel: "6.1.0" };
    const docker = JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 1,
      archMap: [
        { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] },
        { architecture: "SCMP_ARCH_AARCH64", subArchitectures: [] },
      ],
      syscalls: [
        { names: ["read", "write", "execve"], action: "SCMP_ACT_ALLOW" },
        { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
        { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
        { names: ["newer_call"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "9.0" } },
        { names: ["arm_only"], action: "SCMP_ACT_ALLOW", includes: { arches: ["arm64"] } },
        { name: "personality", action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] },
      ],
    });
    const profile = parseSeccompProfile("config.security.seccomp_profile", docker, host);
    assert.deepEqual(profile.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    const names = profile.syscalls.flatMap((r) => r.names);
    assert.ok(names.includes("ptrace") && !names.includes("newer_call") && !names.includes("arm_only") && names.includes("personality"));
    const plain = filter({ seccompProfile: "/p.json" }, { seccompProfile: profile });
    assert.equal(plain?.defaultAction, "SCMP_ACT_ERRNO");
    assert.equal(plain?.defaultErrnoRet, 1);
    assert.ok(!plain?.syscalls?.some((r) => r.names.includes("mount")), "mount needs CAP_SYS_ADMIN");
    assert.ok(filter({ seccompProfile: "/p.json", capAdd: ["SYS_ADMIN"] }, { seccompProfile: profile })?.syscalls?.some((r) => r.names.includes("mount")));
    assert.throws(
      () => filter({ seccompProfile: "/p.json" }),
      (e: unknown) => e instanceof HullError && e.reason === "INTERNAL",
    );
    assert.ok(kernelAtLeast("6.18.44-fc", "4.8") && !kernelAtLeast("4.4.0", "4.8") && kernelAtLeast("4.8", "4.8"));
  });

  test("a malformed profile is INVALID_ARGUMENT naming the field", () => {
    const F = "config.security.seccomp_profile";
    const bad: Array<[string, string]> = [
      ["{", F],
      ["[]", F],
      ["{}", `${F}.defaultAction`],
      ['{"defaultAction":"SCMP_ACT_MAYBE"}', `${F}.defaultAction`],
      ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', `${F}.syscalls`],
      ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}', `${F}.syscalls[0].names`],
      ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"KILL"}]}', `${F}.syscalls[0].action`],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}',
        `${F}.syscalls[0].args[0].index`,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"EQ"}]}]}',
        `${F}.syscalls[0].args[0].op`,
      ],
      ['{"defaultAction":"SCMP_ACT_ALLOW","architectures":["x86_64"]}', `${F}.architectures`],
      ['{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}', `${F}.flags[0]`],
      ['{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock"}', `${F}.listenerPath`],
    ];
    for (const [text, field] of bad) assert.throws(() => parseSeccompProfile(F, text), isInvalid(field), text);
  });
});

describe("CLI security flags", () => {
  test("--cap-add/--cap-drop/--security-opt/--userns", () => {
    const none = { capAdd: [], capDrop: [], securityOpt: [] };
    assert.equal(buildSecurity(none), undefined);
    assert.deepEqual(buildSecurity({ ...none, capAdd: ["NET_RAW,SYS_ADMIN"], capDrop: ["ALL"] })?.capAdd, ["NET_RAW", "SYS_ADMIN"]);
    assert.equal(buildSecurity({ ...none, securityOpt: ["no-new-privileges"] })?.allowNewPrivileges, false);
    assert.equal(buildSecurity({ ...none, securityOpt: ["no-new-privileges=false"] })?.allowNewPrivileges, true);
    assert.equal(buildSecurity({ ...none, securityOpt: ["seccomp=unconfined"] })?.seccompProfile, "unconfined");
    assert.equal(buildSecurity({ ...none, securityOpt: ["seccomp:p.json"] }, "/home/u")?.seccompProfile, "/home/u/p.json");
    assert.throws(() => buildSecurity({ ...none, securityOpt: ["label=disable"] }), UsageError);
    assert.throws(() => buildSecurity({ ...none, securityOpt: ["no-new-privileges=maybe"] }), UsageError);
    assert.deepEqual(parseUserns("private:100000:65536"), { mode: "private", hostId: 100000, size: 65536, gidSize: 0 });
    assert.deepEqual(parseUserns("private:100000"), { mode: "private", hostId: 100000, size: 0, gidSize: 0 });
    assert.deepEqual(buildSecurity({ ...none, userns: "host" })?.userNamespace, { mode: "host", hostId: 0, size: 0, gidSize: 0 });
    for (const bad of ["private", "auto", "private:x", "private:1:0", "private:1:2:3", "private:4294967296"])
      assert.throws(() => parseUserns(bad), UsageError, bad);
  });
});
