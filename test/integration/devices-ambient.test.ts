// Host devices and ambient capabilities proven from inside real containers
// (hulld + conmon + runc), through the CRI (host-network pods, no CNI) and
// through hull.v1 (the CLI's --device, the gRPC client's cap_ambient): the
// node is there with the host's major:minor, the device cgroup grants what
// the permissions say and no more, bad host paths are INVALID_ARGUMENT, and
// a non-root process holds its ambient capabilities.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { LinuxContainerSecurityContext, NamespaceMode, type Device } from "../../src/gen/runtime/v1/api.js";
import { errorInfo } from "../helpers/api.js";
import { runHull } from "../helpers/cli.js";
import { must, waitExited } from "../helpers/fixtures.js";
import { decodeCaps, statusField } from "../helpers/caps.js";
import { type containerConfig, startInPod, type CriClient } from "../helpers/cri.js";
import { criSuite, type CriPod } from "../helpers/cri-suite.js";

/**
 * A host device runc 1.1 does not allow by default (its /dev/null, zero,
 * full, random, urandom, tty, ptmx, tun and pts are always rwm), whose open
 * does nothing by itself: only the device cgroup decides whether it opens.
 */
const QUIET_DEVICE = ["/dev/loop-control", "/dev/fuse", "/dev/loop0"].find((p) => existsSync(p));

const INVALID = grpc.status.INVALID_ARGUMENT;

describe("host devices and ambient capabilities", () => {
  const suite = criSuite("hull-devices-");
  const c = (): CriClient => suite.cri;
  const made: string[] = [];
  let pod: CriPod | undefined;

  before(async () => {
    pod = await suite.pod();
  });
  after(async () => {
    for (const id of made) await suite.d.api.removeContainer({ id, force: true }).catch(() => undefined);
  });

  const run = async (id: string, script: string): Promise<{ code: number; out: string }> => {
    const r = await c().execSync({ containerId: id, cmd: ["sh", "-c", script], timeout: 10n });
    return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
  };

  const start = (over: Parameters<typeof containerConfig>[1]): Promise<string> => startInPod(c(), must(pod, "the suite's pod"), over);

  const withDevices = (...devices: Device[]): Promise<string> => start({ devices });

  it("CRI: /dev/null as /dev/hull-null with rwm is the host's 1:3 and takes writes", async () => {
    const ctr = await withDevices({ hostPath: "/dev/null", containerPath: "/dev/hull-null", permissions: "rwm" });
    assert.deepEqual(await run(ctr, "echo x > /dev/hull-null"), { code: 0, out: "" });
    assert.equal((await run(ctr, "stat -c %t,%T /dev/hull-null")).out.trim(), "1,3");
    assert.equal((await run(ctr, "stat -c %F /dev/hull-null")).out.trim(), "character special file");
  });

  it("CRI: permissions r lets the device cgroup open it for reading only (EPERM for writing)", async (t) => {
    if (QUIET_DEVICE === undefined) return t.skip("no /dev/loop-control, /dev/fuse or /dev/loop0 on this host");
    const readOnly = await withDevices({ hostPath: QUIET_DEVICE, containerPath: "/dev/hull-dev", permissions: "r" });
    assert.deepEqual(await run(readOnly, "true < /dev/hull-dev"), { code: 0, out: "" }, "opened for reading");
    const write = await run(readOnly, "true > /dev/hull-dev");
    assert.notEqual(write.code, 0);
    assert.match(write.out, /Operation not permitted/, "the device cgroup's EPERM, not the file mode's EACCES");
    const readWrite = await withDevices({ hostPath: QUIET_DEVICE, containerPath: "/dev/hull-dev", permissions: "rw" });
    assert.deepEqual(await run(readWrite, "true > /dev/hull-dev"), { code: 0, out: "" }, "the same open with w granted");
  });

  it("CRI: a device runc always allows cannot be narrowed: refused instead of silently left writable", async () => {
    await assert.rejects(withDevices({ hostPath: "/dev/null", containerPath: "/dev/hull-null", permissions: "r" }), (e: unknown) => {
      const info = errorInfo(e);
      assert.equal(info.code, INVALID, info.message);
      assert.equal(info.metadata.field, "config.devices[0].permissions");
      assert.match(info.message, /runc always allows c 1:3/);
      return true;
    });
  });

  it("CRI: a missing or non-device host path is INVALID_ARGUMENT naming the field and the path", async () => {
    for (const [hostPath, why] of [
      [join(suite.work, "no-such-device"), /no-such-device" does not exist/],
      [join(suite.rootfs, "bin/busybox"), /busybox" is not a character or block device node/],
    ] as const) {
      await assert.rejects(withDevices({ hostPath, containerPath: "/dev/x", permissions: "" }), (e: unknown) => {
        const info = errorInfo(e);
        assert.equal(info.code, INVALID, info.message);
        assert.equal(info.metadata.field, "config.devices[0].host_path");
        assert.match(info.message, why);
        return true;
      });
    }
  });

  it("CRI: an ambient capability of a non-root user is in its CapAmb and CapEff, and binds a low port", async () => {
    const securityContext = (ambient: string[]): LinuxContainerSecurityContext =>
      LinuxContainerSecurityContext.fromPartial({
        runAsUser: { value: 1234n },
        capabilities: { dropCapabilities: ["ALL"], addCapabilities: [], addAmbientCapabilities: ambient },
        namespaceOptions: { pid: NamespaceMode.CONTAINER, network: NamespaceMode.NODE, ipc: NamespaceMode.POD },
      });
    // A PID namespace of its own: PID 1 is the container's process, not the pod's infra.
    const ctr = await start({ linux: { securityContext: securityContext(["NET_BIND_SERVICE"]), resources: undefined } });
    for (const pid of ["1", "self"]) {
      const status = (await run(ctr, `cat /proc/${pid}/status`)).out;
      assert.equal(statusField(status, "Uid").split(/\s+/)[0] ?? "", "1234", `/proc/${pid} runs as 1234`);
      assert.deepEqual(decodeCaps(statusField(status, "CapAmb")), ["CAP_NET_BIND_SERVICE"], `/proc/${pid} CapAmb`);
      assert.deepEqual(decodeCaps(statusField(status, "CapEff")), ["CAP_NET_BIND_SERVICE"], `/proc/${pid} CapEff: kept across execve`);
    }
    // A privileged port: bound with the capability (nc listens until timeout's TERM: 143), refused without it.
    const port = 900 + (process.pid % 100);
    const bind = `timeout 1 nc -l -p ${port}; echo "exit $?"`;
    const bound = (await run(ctr, bind)).out;
    assert.match(bound, /^exit 143$/m, bound);
    assert.doesNotMatch(bound, /Permission denied/);
    const without = await start({ linux: { securityContext: securityContext([]), resources: undefined } });
    assert.match((await run(without, bind)).out, /Permission denied/);
  });

  it("hull.v1: --device through the CLI, and cap_ambient through the gRPC client", async () => {
    const socket = suite.d.socket;
    const ok = await runHull(socket, [
      "run",
      "--rm",
      "--rootfs",
      suite.rootfs,
      "--device",
      "/dev/null:/dev/hull-null",
      "--",
      "sh",
      "-c",
      "echo x > /dev/hull-null && stat -c %t,%T /dev/hull-null",
    ]);
    assert.deepEqual([ok.code, ok.stdout.trim()], [0, "1,3"], ok.stderr);
    const bad = await runHull(socket, ["create", "--rootfs", suite.rootfs, "--device", "/no/such/dev", "--", "true"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid config\.devices\[0\]\.host_path: "\/no\/such\/dev" does not exist/);

    const api = suite.d.api;
    const res = await api.createContainer({
      config: {
        rootfsPath: suite.rootfs,
        command: ["sh", "-c", "grep CapAmb /proc/self/status"],
        user: "1234",
        security: { capDrop: ["ALL"], capAmbient: ["net_bind_service"] },
      },
    });
    const id = must(res.container, "container").id;
    made.push(id);
    await api.startContainer({ id });
    assert.equal((await waitExited(api, id)).exitCode, 0);
    const inspected = await runHull(socket, ["logs", id]);
    assert.deepEqual(decodeCaps(statusField(inspected.stdout, "CapAmb")), ["CAP_NET_BIND_SERVICE"]);
  });
});
