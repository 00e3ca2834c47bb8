// hull's safe defaults, proven from inside real containers (hulld + conmon +
// runc): what a default container cannot do, that each option turns exactly
// its part off, and that bad security options and mounts are refused.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { type ContainerConfig, type ContainerLogsResponse, ContainerLogsRequest, type DeepPartial } from "../../src/gen/hull/v1/container.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "../../src/domain/spec-defaults.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, type Api } from "../helpers/api.js";
import { SLEEP, config, createStarted, must } from "../helpers/fixtures.js";
import { decodeCaps, statusField } from "../helpers/caps.js";

const INVALID = grpc.status.INVALID_ARGUMENT;
const CLONE_NEWUSER_REFUSED = /Operation not permitted/;

describe("security defaults", () => {
  const s = daemonSuite();
  const api = (): Api => s.api;
  let hostDir = "";

  before(async () => {
    // A private user namespace's root is not the rootfs's owner: it needs o+x on the way in.
    await chmod(s.rootfs, 0o755);
    hostDir = await mkdtemp(join(tmpdir(), "hull-secdef-"));
    await writeFile(join(hostDir, "marker"), "from the host\n");
  });
  after(async () => {
    if (hostDir !== "") await rm(hostDir, { recursive: true, force: true });
  });

  async function sleeper(extra: DeepPartial<ContainerConfig> = {}): Promise<string> {
    const c = await createStarted(api(), s.rootfs, SLEEP, extra);
    s.made.push(c.id);
    return c.id;
  }

  async function exec(id: string, script: string): Promise<{ code: number; out: string; err: string }> {
    const r = await api().execSync({ id, command: ["sh", "-c", script], timeoutSeconds: 30 });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  }

  /** Runs `script` as the container's own process; its exit code and output. */
  async function runToExit(script: string, extra: DeepPartial<ContainerConfig> = {}): Promise<{ code: number; out: string }> {
    const res = await api().createContainer({ config: config(s.rootfs, ["sh", "-c", script], extra) });
    const id = must(res.container, "container").id;
    s.made.push(id);
    await api().startContainer({ id });
    const { exitCode } = await api().waitContainer({ id });
    const out = await new Promise<string>((resolve, reject) => {
      const call = s.d.client.containerLogs(ContainerLogsRequest.fromPartial({ id }), new grpc.Metadata(), { deadline: Date.now() + 30_000 });
      let text = "";
      call.on("data", (r: ContainerLogsResponse) => (text += r.lines.map((l) => `${l.data.toString()}${l.full ? "\n" : ""}`).join("")));
      call.on("error", reject);
      call.on("end", () => resolve(text));
    });
    return { code: exitCode, out };
  }

  it("a default container: Podman's capabilities, no_new_privs and seccomp, for PID 1 and for exec alike", async () => {
    const id = await sleeper();
    for (const pid of ["1", "self"]) {
      const { code, out } = await exec(id, `cat /proc/${pid}/status`);
      assert.equal(code, 0);
      for (const field of ["CapEff", "CapBnd", "CapPrm"]) {
        assert.deepEqual(
          decodeCaps(statusField(out, field)),
          ALL_CAPABILITIES.filter((c) => DEFAULT_CAPABILITIES.includes(c)),
          `${pid} ${field}`,
        );
      }
      const bounding = decodeCaps(statusField(out, "CapBnd"));
      assert.ok(!bounding.includes("CAP_SYS_ADMIN") && !bounding.includes("CAP_SYS_MODULE"), `${pid}: no SYS_ADMIN, no SYS_MODULE`);
      assert.equal(statusField(out, "NoNewPrivs"), "1", pid);
      assert.equal(statusField(out, "Seccomp"), "2", `${pid}: a seccomp filter is installed (mode 2)`);
    }
    const id0 = await exec(id, "id -u");
    assert.equal(id0.out.trim(), "0", "root in the container, yet without the capabilities above");
  });

  it("a default container cannot mount, make a user namespace, read masked /proc files or write /proc/sys", async () => {
    const id = await sleeper();
    const mount = await exec(id, "mount -t tmpfs none /tmp");
    assert.notEqual(mount.code, 0, `mount succeeded: ${mount.out}`);
    assert.match(mount.err, /denied|not permitted/i);
    // Creating a user namespace needs no capability: only the seccomp rule stops it.
    const userns = await exec(id, "unshare -U true");
    assert.notEqual(userns.code, 0);
    assert.match(userns.err, CLONE_NEWUSER_REFUSED);
    // Masked: /dev/null over the file (or, where the kernel lacks it, no file): nothing to read.
    const kcore = await exec(id, "head -c 16 /proc/kcore | wc -c");
    assert.equal(kcore.out.trim(), "0");
    if ((await readFile("/proc/timer_list", "utf8")).length > 0) {
      assert.equal((await exec(id, "cat /proc/timer_list | wc -c")).out.trim(), "0", "the host's timer_list is not visible");
    }
    const sys = await exec(id, "echo other > /proc/sys/kernel/hostname");
    assert.notEqual(sys.code, 0);
    assert.match(sys.err, /Read-only file system/);
  });

  it("a PID namespace: PID 1 is the container's command and no host process is visible", async () => {
    const id = await sleeper();
    assert.equal((await exec(id, "tr '\\0' ' ' < /proc/1/cmdline")).out.trim(), SLEEP.join(" "));
    const pids = (await exec(id, "ls /proc")).out.split(/\s+/).filter((e) => /^\d+$/.test(e));
    const hostPids = (await readdir("/proc")).filter((e) => /^\d+$/.test(e));
    // PID 1 and this exec's sh and ls: nothing else runs in the container.
    assert.ok(pids.includes("1") && pids.length <= 4, `container pids: ${pids.join(" ")}`);
    assert.ok(hostPids.length > pids.length + 10, `the host runs ${hostPids.length} processes`);
    const ps = await exec(id, "ps -o comm");
    assert.doesNotMatch(ps.out, /conmon|hulld|node|runc/);
  });

  it("cap_add SYS_ADMIN lifts the mount rule; seccomp unconfined drops the filter; a profile file applies", async () => {
    const admin = await runToExit("mount -t tmpfs none /tmp && grep -c ' /tmp tmpfs' /proc/mounts", { security: { capAdd: ["SYS_ADMIN"] } });
    assert.equal(admin.code, 0, admin.out);
    const unconfined = await runToExit("mount -t tmpfs none /tmp && unshare -U true && grep Seccomp: /proc/self/status", {
      security: { capAdd: ["SYS_ADMIN"], seccompProfile: "unconfined" },
    });
    assert.equal(unconfined.code, 0, unconfined.out);
    assert.match(unconfined.out, /Seccomp:\s*0/);
    // Without CAP_SYS_ADMIN the filter is not what stops mount, but still what stops a user namespace.
    const plain = await runToExit("unshare -U true", { security: { seccompProfile: "unconfined" } });
    assert.equal(plain.code, 0, `unshare -U without the filter: ${plain.out}`);
    const profile = join(hostDir, "no-mount.json");
    await writeFile(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mount"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }] }));
    const custom = await runToExit("mount -t tmpfs none /tmp", { security: { capAdd: ["SYS_ADMIN"], seccompProfile: profile } });
    assert.notEqual(custom.code, 0, "the profile's mount rule holds even with CAP_SYS_ADMIN");
    assert.match(custom.out, /denied|not permitted/i);
  });

  it("cap_drop ALL and allow_new_privileges reach PID 1 and exec", async () => {
    const id = await sleeper({ security: { capDrop: ["ALL"], capAdd: ["NET_BIND_SERVICE"], allowNewPrivileges: true } });
    for (const pid of ["1", "self"]) {
      const out = (await exec(id, `cat /proc/${pid}/status`)).out;
      assert.deepEqual(decodeCaps(statusField(out, "CapEff")), ["CAP_NET_BIND_SERVICE"], pid);
      assert.equal(statusField(out, "NoNewPrivs"), "0", pid);
    }
  });

  it("pids limit: 2048 by default, the given value, or max", async (t) => {
    if (!existsSync("/sys/fs/cgroup/pids/pids.max") && !existsSync("/sys/fs/cgroup/pids")) {
      t.skip("no cgroup v1 pids controller at /sys/fs/cgroup/pids");
      return;
    }
    const cases: Array<[number | undefined, string]> = [
      [undefined, "2048"],
      [100, "100"],
      [-1, "max"],
    ];
    for (const [pidsLimit, expected] of cases) {
      const id = await sleeper(pidsLimit === undefined ? {} : { resources: { pidsLimit } });
      // cgroupsPath /hull/<id> under the v1 pids hierarchy; the container has no cgroup mount of its own.
      const max = await readFile(join("/sys/fs/cgroup/pids/hull", id, "pids.max"), "utf8");
      assert.equal(max.trim(), expected, `pids_limit ${String(pidsLimit)}`);
    }
  });

  it("a private user namespace maps container root onto the given host range", async () => {
    const ns = { userNamespace: { mode: "private", hostId: 200000, size: 65536 } };
    const run = await runToExit("cat /proc/self/uid_map /proc/self/gid_map && id -u", { security: ns });
    assert.equal(run.code, 0, run.out);
    const lines = run.out
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/).join(" "));
    assert.deepEqual(lines, ["0 200000 65536", "0 200000 65536", "0"]);
    const id = await sleeper({ security: ns });
    assert.equal((await exec(id, "cat /proc/self/uid_map")).out.trim().split(/\s+/).join(" "), "0 200000 65536", "exec joins the namespace");
    // The host sees the container's root as uid 200000.
    const hostStatus = await readFile(`/proc/${(await api().inspectContainer({ id })).container?.pid ?? 0}/status`, "utf8");
    assert.equal(statusField(hostStatus, "Uid"), "200000");
  });

  it("a bind mount of a host dir is visible (read-only when asked); hulld's own dirs are refused", async () => {
    const read = await runToExit("cat /data/marker && ! touch /data/new", {
      mounts: [{ type: "bind", source: hostDir, destination: "/data", options: ["ro"] }],
    });
    assert.equal(read.code, 0, read.out);
    assert.match(read.out, /from the host/);
    assert.equal(existsSync(join(hostDir, "new")), false);
    const before = (await api().listContainers({})).containers.length;
    for (const source of [s.d.root, join(s.d.root, "containers"), s.d.runRoot]) {
      const e = await assertGrpcError(
        api().createContainer({ config: config(s.rootfs, SLEEP, { mounts: [{ type: "bind", source, destination: "/x" }] }) }),
        INVALID,
        "INVALID_ARGUMENT",
      );
      assert.equal(e.metadata.field, "config.mounts[0].source", e.message);
    }
    assert.equal((await api().listContainers({})).containers.length, before, "nothing was created");
  });

  it("bad security options are INVALID_ARGUMENT naming the field", async () => {
    const badProfile = join(hostDir, "bad.json");
    await writeFile(badProfile, '{"defaultAction": "SCMP_ACT_SOMETIMES"}');
    const cases: Array<[DeepPartial<ContainerConfig>, string]> = [
      [{ security: { capAdd: ["NET_RAW", "SYS_EVERYTHING"] } }, "config.security.cap_add[1]"],
      [{ security: { capAdd: ["CHOWN"], capDrop: ["cap_chown"] } }, "config.security.cap_add"],
      [{ security: { seccompProfile: join(hostDir, "missing.json") } }, "config.security.seccomp_profile"],
      [{ security: { seccompProfile: badProfile } }, "config.security.seccomp_profile.defaultAction"],
      [{ security: { userNamespace: { mode: "private", hostId: 4294967000, size: 65536 } } }, "config.security.user_namespace.size"],
      [{ mounts: [{ type: "bind", source: hostDir, destination: "/proc" }] }, "config.mounts[0].destination"],
      [{ mounts: [{ type: "bind", source: hostDir, destination: "/d", options: ["ro", "data=1"] }] }, "config.mounts[0].options[1]"],
    ];
    for (const [extra, field] of cases) {
      const e = await assertGrpcError(api().createContainer({ config: config(s.rootfs, SLEEP, extra) }), INVALID, "INVALID_ARGUMENT");
      assert.equal(e.metadata.field, field, e.message);
    }
  });
});
