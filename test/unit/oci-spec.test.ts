// generateSpec (src/oci/spec.ts) without a daemon: the process, root, hostname,
// env, rlimits, namespaces, resources and mounts it writes, the mount shape
// rules, the host checks on bind sources and profile files
// (validation/spec-rules.ts), and signal names. Capabilities, no_new_privs,
// user namespaces, seccomp and the CLI's security flags are in
// oci-security.test.ts.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Resources } from "../../src/gen/hull/v1/container.js";
import { generateSpec, mergeEnv, DEFAULT_PATH } from "../../src/oci/spec.js";
import { parseSignal, signalName } from "../../src/domain/signals.js";
import { checkMountSources, checkSecurity, validateMountShape } from "../../src/validation/spec-rules.js";
import { ID, input, security, isInvalid } from "../helpers/oci-spec-input.js";

describe("generateSpec", () => {
  test("basics: args, cwd, hostname, root, cgroups, annotations", () => {
    const s = generateSpec(input({ command: ["echo", "hi"], annotations: { a: "b" }, readOnlyRootfs: true }));
    assert.deepEqual(s.process.args, ["echo", "hi"]);
    assert.equal(s.process.cwd, "/");
    assert.equal(s.hostname, ID.slice(0, 12));
    assert.deepEqual(s.root, { path: "/r", readonly: true });
    assert.equal(s.linux.cgroupsPath, `/hull/${ID}`);
    assert.deepEqual(s.annotations, { a: "b" });
    assert.equal(s.process.noNewPrivileges, true);
    assert.equal(s.process.terminal, false);
    assert.equal(generateSpec(input({ workingDir: "/tmp", hostname: "box" })).process.cwd, "/tmp");
    assert.equal(generateSpec(input({ hostname: "box" })).hostname, "box");
  });

  test("env: defaults, later entries override by key, TERM only with tty", () => {
    const s = generateSpec(input({ env: ["A=1", "PATH=/x", "A=2", "HOME=/h"] }));
    assert.deepEqual(s.process.env, ["PATH=/x", `HOSTNAME=${ID.slice(0, 12)}`, "HOME=/h", "A=2"]);
    const t = generateSpec(input({ tty: true }));
    assert.deepEqual(t.process.env, [`PATH=${DEFAULT_PATH}`, "TERM=xterm", `HOSTNAME=${ID.slice(0, 12)}`, "HOME=/root"]);
    assert.equal(t.process.terminal, true);
    assert.ok(!generateSpec(input()).process.env?.some((e) => e.startsWith("TERM=")));
    assert.deepEqual(mergeEnv(["A=1", "B=2"], ["A=3", "C"]), ["A=3", "B=2"]);
  });

  test("rlimits never exceed the host's hard limits", () => {
    const low = generateSpec(input()).process.rlimits;
    assert.deepEqual(low, [
      { type: "RLIMIT_NOFILE", hard: 20000, soft: 20000 },
      { type: "RLIMIT_NPROC", hard: 96365, soft: 96365 },
    ]);
    const high = generateSpec(input({}, { hostLimits: { nofileHard: Number.MAX_SAFE_INTEGER, nprocHard: Number.MAX_SAFE_INTEGER } }));
    assert.deepEqual(
      high.process.rlimits?.map((r) => r.hard),
      [1048576, 4194304],
    );
  });

  test("network namespace only for networkMode none", () => {
    const types = (mode: string): string[] => generateSpec(input({ networkMode: mode })).linux.namespaces.map((n) => n.type);
    assert.deepEqual(types(""), ["pid", "ipc", "uts", "mount"]);
    assert.deepEqual(types("host"), ["pid", "ipc", "uts", "mount"]);
    assert.deepEqual(types("none"), ["pid", "ipc", "uts", "mount", "network"]);
  });

  test("user, capabilities, masked and readonly paths", () => {
    const s = generateSpec(input({}, { user: { uid: 1000, gid: 100, additionalGids: [5, 6], home: "/home/u" } }));
    assert.deepEqual(s.process.user, { uid: 1000, gid: 100, additionalGids: [5, 6] });
    assert.ok(s.process.env?.includes("HOME=/home/u"));
    const caps = s.process.capabilities;
    assert.equal(caps?.bounding?.length, 11);
    assert.deepEqual(caps?.effective, caps?.bounding);
    assert.deepEqual(caps?.permitted, caps?.bounding);
    assert.ok(caps?.bounding?.includes("CAP_NET_BIND_SERVICE"));
    assert.ok(!caps?.bounding?.includes("CAP_SYS_ADMIN"));
    assert.ok(s.linux.maskedPaths?.includes("/proc/kcore"));
    assert.ok(s.linux.readonlyPaths?.includes("/proc/sys"));
  });

  test("resources: set fields only, 0 means unset; devices deny-all first", () => {
    const none = generateSpec(input()).linux.resources;
    assert.equal(none?.memory, undefined);
    assert.equal(none?.cpu, undefined);
    assert.deepEqual(none?.pids, { limit: 2048 }, "Podman's default pids limit");
    assert.deepEqual(none?.devices?.[0], { allow: false, access: "rwm" });
    assert.ok(none?.devices?.some((d) => d.allow && d.major === 1 && d.minor === 3));
    const r = generateSpec(
      input({
        resources: Resources.fromPartial({ memoryLimitBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 50000, cpuPeriodUs: 100000, pidsLimit: 100 }),
      }),
    ).linux.resources;
    assert.deepEqual(r?.memory, { limit: 64 << 20 });
    assert.deepEqual(r?.cpu, { shares: 512, quota: 50000, period: 100000 });
    assert.deepEqual(r?.pids, { limit: 100 });
    const partial = generateSpec(
      input({
        resources: Resources.fromPartial({ memoryLimitBytes: 0, cpuShares: 0, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit: 5 }),
      }),
    ).linux.resources;
    assert.equal(partial?.memory, undefined);
    assert.equal(partial?.cpu, undefined);
    assert.deepEqual(partial?.pids, { limit: 5 });
    const pids = (pidsLimit: number): number | undefined =>
      generateSpec(input({ resources: Resources.fromPartial({ memoryLimitBytes: 0, cpuShares: 0, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit }) })).linux.resources
        ?.pids?.limit;
    assert.equal(pids(0), 2048);
    assert.equal(pids(-1), -1, "negative: no limit (runc writes max)");
    assert.equal(pids(-7), -1);
  });

  test("mounts: standard set, bind with ro, tmpfs, proc, override by destination", () => {
    const s = generateSpec(
      input({
        mounts: [
          { type: "", source: "/host/data", destination: "/data", options: ["ro"] },
          { type: "tmpfs", source: "", destination: "/scratch", options: ["size=1m"] },
          { type: "tmpfs", source: "", destination: "/dev/shm", options: [] },
          { type: "proc", source: "", destination: "/proc2", options: [] },
        ],
      }),
    );
    const dests = s.mounts.map((m) => m.destination);
    for (const d of ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys"]) assert.ok(dests.includes(d), d);
    assert.equal(dests.filter((d) => d === "/dev/shm").length, 1);
    const bind = s.mounts.find((m) => m.destination === "/data");
    assert.equal(bind?.type, "bind");
    assert.equal(bind?.source, "/host/data");
    assert.equal(bind?.options?.[0], "rbind");
    assert.ok(bind?.options?.includes("ro"));
    assert.deepEqual(s.mounts.find((m) => m.destination === "/scratch")?.options, ["size=1m"]);
    assert.equal(s.mounts.find((m) => m.destination === "/proc2")?.type, "proc");
    assert.deepEqual(s.mounts.find((m) => m.destination === "/sys")?.options?.includes("ro"), true);
  });

  test("bad mounts are INVALID_ARGUMENT naming the field", () => {
    const m = (over: object) => ({ type: "bind", source: "/s", destination: "/d", options: [], ...over });
    assert.throws(() => validateMountShape(m({ destination: "rel" }), 2), isInvalid("mounts[2].destination"));
    assert.throws(() => validateMountShape(m({ destination: "/a/../b" }), 0), isInvalid("mounts[0].destination"));
    assert.throws(() => validateMountShape(m({ destination: "/" }), 0), isInvalid("mounts[0].destination"));
    assert.throws(() => validateMountShape(m({ source: "x" }), 1), isInvalid("mounts[1].source"));
    assert.throws(() => validateMountShape(m({ type: "nfs" }), 0), isInvalid("mounts[0].type"));
    assert.throws(() => validateMountShape(m({ options: ["ro,exec"] }), 0), isInvalid("mounts[0].options[0]"));
    assert.throws(() => validateMountShape(m({ options: ["uid=0"] }), 0), isInvalid("mounts[0].options[0]"), "tmpfs options on a bind");
    assert.throws(() => validateMountShape(m({ options: ["data=x"] }), 0), isInvalid("mounts[0].options[0]"));
    assert.throws(() => validateMountShape(m({ type: "tmpfs", options: ["size=lots"] }), 0), isInvalid("mounts[0].options[0]"));
    for (const dest of ["/proc", "/proc/", "/sys", "//sys", "/dev", "/dev/"]) {
      assert.throws(() => validateMountShape(m({ destination: dest }), 3, "config"), isInvalid("config.mounts[3].destination"), dest);
    }
    validateMountShape(m({ destination: "/dev/shm", options: ["ro", "nosuid", "rslave", "z"] }), 0);
    validateMountShape(m({ type: "tmpfs", options: ["size=64m", "mode=1777", "noexec"] }), 0);
    assert.throws(() => generateSpec(input({ mounts: [m({ destination: "x" })] })), isInvalid("mounts[0].destination"));
    validateMountShape(m({ type: "tmpfs", source: "" }), 0);
  });
});

describe("host checks: bind sources and profile files", () => {
  test("sources must exist and stay out of hulld's own dirs, symlinks resolved", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hull-oci-spec-"));
    try {
      const root = join(dir, "root");
      await mkdir(join(root, "containers"), { recursive: true });
      await mkdir(join(dir, "data"));
      await symlink(join(root, "containers"), join(dir, "sneaky"));
      const bind = (source: string) => [{ type: "bind", source, destination: "/d", options: [] }];
      await checkMountSources(bind(join(dir, "data")), [root, join(dir, "run")], "config");
      for (const source of [root, join(root, "containers"), join(dir, "sneaky"), `${root}/`]) {
        await assert.rejects(checkMountSources(bind(source), [root], "config"), isInvalid("config.mounts[0].source"), source);
      }
      await assert.rejects(checkMountSources(bind(join(dir, "missing")), [root], "config"), isInvalid("config.mounts[0].source"));
      await assert.rejects(checkSecurity(security({ seccompProfile: join(dir, "none.json") }), "config"), isInvalid("config.security.seccomp_profile"));
      await assert.rejects(checkSecurity(security({ seccompProfile: "relative.json" })), isInvalid("security.seccomp_profile"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("signals", () => {
  test("names, short names, any case, numbers, real-time", () => {
    assert.equal(parseSignal("SIGTERM"), 15);
    assert.equal(parseSignal("TERM"), 15);
    assert.equal(parseSignal("term"), 15);
    assert.equal(parseSignal("sigkill"), 9);
    assert.equal(parseSignal("15"), 15);
    assert.equal(parseSignal("1"), 1);
    assert.equal(parseSignal("64"), 64);
    assert.equal(parseSignal("SIGRTMIN"), 34);
    assert.equal(parseSignal("SIGRTMIN+3"), 37);
    assert.equal(parseSignal("RTMAX-2"), 62);
    assert.equal(parseSignal("SIGRTMAX"), 64);
    assert.equal(parseSignal("IOT"), 6);
    assert.equal(parseSignal("SIGWINCH"), 28);
  });

  test("bad signals are INVALID_ARGUMENT on field signal", () => {
    for (const bad of ["", "0", "65", "SIGFOO", "9x", "-9", " 9", "SIG", "SIGRTMIN+31", "RTMAX+1", "RTMIN-1", "1.5"]) {
      assert.throws(() => parseSignal(bad), isInvalid("signal"), JSON.stringify(bad));
    }
  });

  test("signalName", () => {
    assert.equal(signalName(9), "SIGKILL");
    assert.equal(signalName(15), "SIGTERM");
    assert.equal(signalName(34), "SIGRTMIN");
    assert.equal(signalName(37), "SIGRTMIN+3");
    assert.equal(signalName(63), "SIGRTMAX-1");
    assert.equal(signalName(64), "SIGRTMAX");
    assert.equal(signalName(32), "SIG32");
    for (let n = 1; n <= 64; n++) {
      if (n === 32 || n === 33) continue;
      assert.equal(parseSignal(signalName(n)), n);
    }
  });
});
