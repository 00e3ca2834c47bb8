// Host devices and ambient capabilities, without a daemon: the spec entries
// and device cgroup rules generated from resolved devices, how the host's
// nodes are resolved (links followed, directories walked, non-devices
// refused), the validation of paths, permissions and capability names, the
// CLI's --device and the CRI's mapping onto hull.v1.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecurityOptions, type ContainerConfig, type Device } from "../../src/gen/hull/v1/container.js";
import { ContainerConfig as CriContainerConfig } from "../../src/gen/runtime/v1/api.js";
import { HullError } from "../../src/errors.js";
import { generateExecProcess, generateSpec, type SpecInput } from "../../src/oci/spec.js";
import type { GrantedDevice, OciDevice } from "../../src/oci/spec-types.js";
import { readHostDevices, resolveDevices } from "../../src/oci/host-devices.js";
import { validateContainerConfig } from "../../src/validation/container-config.js";
import { deviceAccess } from "../../src/validation/isolation-rules.js";
import { criToHullConfig } from "../../src/service/cri/container-config.js";
import { parseDevice, UsageError } from "../../src/cli/parse.js";
import { containerConfig } from "../helpers/container-config.js";

const ID = "ab".repeat(32);

function input(over: Partial<ContainerConfig> = {}, extra: Partial<SpecInput> = {}): SpecInput {
  return {
    id: ID,
    config: containerConfig({ name: "c", rootfsPath: "/r", command: ["/bin/sh"], ...over }),
    rootfs: "/r",
    user: { uid: 1000, gid: 1000, additionalGids: [], home: "/home/u" },
    hostLimits: { nofileHard: 1024, nprocHard: 1024 },
    cgroupsPath: `/hull/${ID}`,
    ...extra,
  };
}

const device = (hostPath: string, containerPath = "", permissions = ""): Device => ({ hostPath, containerPath, permissions });
const security = (over: Partial<SecurityOptions>): SecurityOptions => SecurityOptions.fromPartial(over);

function refusedAt(field: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HullError, String(err));
    assert.equal(err.reason, "INVALID_ARGUMENT", err.message);
    assert.equal(err.metadata.field, field, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const NULL_AS: GrantedDevice = { device: { type: "c", path: "/dev/hull-null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }, access: "rw" };
const DISK: GrantedDevice = { device: { type: "b", path: "/dev/xvda", major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }, access: "r" };

describe("devices in the spec", () => {
  it("puts each resolved node in linux.devices and allows exactly its major:minor after the default rules", () => {
    const s = generateSpec(input({}, { devices: [NULL_AS, DISK] }));
    assert.deepEqual(s.linux.devices, [NULL_AS.device, DISK.device]);
    const rules = s.linux.resources?.devices ?? [];
    assert.deepEqual(rules[0], { allow: false, access: "rwm" }, "deny-all stays first");
    assert.deepEqual(rules.slice(-2), [
      { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
      { allow: true, type: "b", major: 8, minor: 0, access: "r" },
    ]);
    const plain = generateSpec(input());
    assert.equal(plain.linux.devices, undefined, "no devices asked, none in the spec");
    assert.equal(rules.length, (plain.linux.resources?.devices ?? []).length + 2);
  });

  it("a later device at the same path replaces the earlier one (runc would mknod both)", () => {
    const again: GrantedDevice = { device: { ...DISK.device, path: NULL_AS.device.path }, access: "r" };
    assert.deepEqual(generateSpec(input({}, { devices: [NULL_AS, again] })).linux.devices, [again.device]);
  });

  it("privileged: the host's devices plus the config's, the config's winning at a shared path, and one allow-all rule", () => {
    const hostNull: OciDevice = { type: "c", path: "/dev/hull-null", major: 1, minor: 7 };
    const hostTty: OciDevice = { type: "c", path: "/dev/tty1", major: 4, minor: 1 };
    const s = generateSpec(input({ security: security({ privileged: true }) }, { hostDevices: [hostNull, hostTty], devices: [NULL_AS] }));
    assert.deepEqual(s.linux.devices, [NULL_AS.device, hostTty]);
    assert.deepEqual(s.linux.resources?.devices, [{ allow: true, access: "rwm" }]);
  });

  it("permissions: runc's letter order, empty meaning rwm", () => {
    assert.equal(deviceAccess(""), "rwm");
    assert.equal(deviceAccess("mr"), "rm");
    assert.equal(deviceAccess("w"), "w");
  });
});

describe("resolving devices on the host", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hull-devices-"));
    await writeFile(join(dir, "plain"), "not a device\n");
    await symlink("/dev/null", join(dir, "null-link"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a node: type, major:minor, mode and owner from its stat, at the container path; links followed (CRI-O)", async () => {
    const [got, ...rest] = await resolveDevices([device(join(dir, "null-link"), "/dev/hull-null", "mrw")]);
    assert.equal(rest.length, 0);
    assert.deepEqual(got, { device: { type: "c", path: "/dev/hull-null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }, access: "rwm" });
    const [same] = await resolveDevices([device("/dev/zero")]);
    assert.equal(same?.device.path, "/dev/zero", "no container path: the host path");
    assert.deepEqual([same?.device.major, same?.device.minor], [1, 5]);
  });

  it("a directory: every node under it below the container path, as the host's own list has them, without pts", async () => {
    const under = await resolveDevices([device("/dev", "/host-dev", "wr")]);
    const byPath = new Map(under.map((g) => [g.device.path, g]));
    assert.deepEqual([byPath.get("/host-dev/null")?.device.major, byPath.get("/host-dev/null")?.device.minor], [1, 3]);
    assert.ok(byPath.has("/host-dev/zero"));
    assert.ok(![...byPath.keys()].some((p) => p.startsWith("/host-dev/pts/")), "runc's own pts is never walked");
    assert.ok(under.every((g) => g.access === "rw"));
    const host = await readHostDevices();
    assert.ok(host.some((d) => d.path === "/dev/null" && d.major === 1 && d.minor === 3));
    assert.deepEqual(await resolveDevices([device(dir, "/empty")]), [], "a directory without nodes gives none, as containerd's");
  });

  it("narrowing r or w on a device runc always allows is refused; m does not count (runc allows every mknod)", async () => {
    const narrowed = refusedAt("config.devices[0].permissions", /"r" cannot narrow c 1:3: runc always allows c 1:3 \(its \/dev\/null\) rwm/);
    await assert.rejects(resolveDevices([device("/dev/null", "/dev/hull-null", "r")]), narrowed);
    await assert.rejects(resolveDevices([device("/dev", "/host-dev", "r")]), refusedAt("config.devices[0].permissions", /cannot narrow/));
    const [rw] = await resolveDevices([device("/dev/null", "/dev/hull-null", "rw")]);
    assert.equal(rw?.access, "rw");
  });

  it("a missing path or a non-device is refused naming the field and the path", async () => {
    const missing = join(dir, "nope");
    await assert.rejects(resolveDevices([device("/dev/null"), device(missing)]), refusedAt("config.devices[1].host_path", /nope" does not exist/));
    await assert.rejects(resolveDevices([device(join(dir, "plain"))], "devs"), refusedAt("devs[0].host_path", /plain" is not a character or block device/));
  });
});

describe("ambient capabilities in the spec", () => {
  it("go into ambient and inheritable, and into bounding/permitted/effective even after cap_drop ALL", () => {
    const caps = generateSpec(input({ security: security({ capDrop: ["ALL"], capAmbient: ["net_bind_service", "CAP_CHOWN"] }) })).process.capabilities;
    const both = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"];
    assert.deepEqual(caps, { bounding: both, effective: both, permitted: both, inheritable: both, ambient: both });
  });

  it("join the default set; none asked: no inheritable or ambient set at all", () => {
    const caps = generateSpec(input({ security: security({ capAmbient: ["NET_RAW"] }) })).process.capabilities;
    assert.ok(caps?.bounding?.includes("CAP_NET_RAW") && caps.bounding.includes("CAP_CHOWN"), "default set kept");
    assert.deepEqual(caps?.ambient, ["CAP_NET_RAW"]);
    const plain = generateSpec(input()).process.capabilities;
    assert.equal(plain?.ambient, undefined);
    assert.equal(plain?.inheritable, undefined);
  });

  it("ones hulld does not hold are left out, as for cap_add", () => {
    const caps = generateSpec(
      input(
        { security: security({ capDrop: ["ALL"], capAmbient: ["NET_ADMIN", "NET_BIND_SERVICE"] }) },
        { hostLimits: { nofileHard: 1, nprocHard: 1, boundingCapabilities: ["CAP_NET_BIND_SERVICE"] } },
      ),
    ).process.capabilities;
    assert.deepEqual(caps?.ambient, ["CAP_NET_BIND_SERVICE"]);
    assert.deepEqual(caps?.bounding, ["CAP_NET_BIND_SERVICE"]);
  });

  it("an exec process gets the container's ambient set", () => {
    const config = containerConfig({ rootfsPath: "/r", command: ["sh"], security: security({ capDrop: ["ALL"], capAmbient: ["NET_BIND_SERVICE"] }) });
    const p = generateExecProcess({ id: ID, config, user: input().user, hostLimits: input().hostLimits, command: ["id"], env: [], workingDir: "", tty: false });
    assert.deepEqual(p.capabilities?.ambient, ["CAP_NET_BIND_SERVICE"]);
    assert.deepEqual(p.capabilities?.inheritable, ["CAP_NET_BIND_SERVICE"]);
  });
});

describe("validation of devices and ambient capabilities", () => {
  const check = (over: Partial<ContainerConfig>): void => validateContainerConfig(containerConfig({ rootfsPath: "/r", command: ["sh"], ...over }));

  it("accepts nodes, directories, an empty container path and any subset of rwm", () => {
    check({ devices: [device("/dev/null", "/dev/hull-null", "rwm"), device("/dev/snd"), device("/dev/zero", "/z", "mr")] });
    check({ security: security({ capDrop: ["ALL"], capAmbient: ["NET_BIND_SERVICE", "cap_chown"] }) });
  });

  it("refuses bad paths, permissions and clashing container paths, naming the field", () => {
    const cases: [Device[], string, RegExp][] = [
      [[device("dev/null")], "config.devices[0].host_path", /not an absolute path/],
      [[device("/dev/null", "/x/../dev/y")], "config.devices[0].container_path", /\.\./],
      [[device("/dev/null", "/n", "rwx")], "config.devices[0].permissions", /"rwx" is not a subset of "rwm"/],
      [[device("/dev/null", "/n", "rr")], "config.devices[0].permissions", /subset/],
      [[device("/dev/null", "/dev/")], "config.devices[0].container_path", /container's own \/dev/],
      [[device("/dev/null", "/n"), device("/dev/zero", "/n/")], "config.devices[1].container_path", /config\.devices\[0\]'s path/],
      [[device("/dev/null"), device("/dev/null", "/dev/null")], "config.devices[1].container_path", /already/],
    ];
    for (const [devices, field, message] of cases) assert.throws(() => check({ devices }), refusedAt(field, message));
    assert.throws(() => check({ devices: Array.from({ length: 257 }, (_, i) => device("/dev/null", `/d${i}`)) }), refusedAt("config.devices"));
  });

  it("refuses unknown, ALL and dropped ambient capabilities", () => {
    assert.throws(
      () => check({ security: security({ capAmbient: ["NET_BIND_SERVICE", "FLY"] }) }),
      refusedAt("config.security.cap_ambient[1]", /"FLY" is not a Linux capability/),
    );
    assert.throws(() => check({ security: security({ capAmbient: ["all"] }) }), refusedAt("config.security.cap_ambient[0]", /ALL cannot be ambient/));
    assert.throws(
      () => check({ security: security({ capDrop: ["NET_BIND_SERVICE"], capAmbient: ["CAP_NET_BIND_SERVICE"] }) }),
      refusedAt("config.security.cap_ambient", /CAP_NET_BIND_SERVICE is both ambient and dropped/),
    );
    assert.throws(() => check({ security: security({ capAmbient: ["x".repeat(65)] }) }), refusedAt("config.security.cap_ambient[0]"));
  });
});

describe("--device and the CRI's devices", () => {
  it("parses podman's HOST[:CONTAINER][:PERMS]", () => {
    assert.deepEqual(parseDevice("/dev/fuse"), device("/dev/fuse"));
    assert.deepEqual(parseDevice("/dev/sdc:/dev/xvdc"), device("/dev/sdc", "/dev/xvdc"));
    assert.deepEqual(parseDevice("/dev/sdc:r"), device("/dev/sdc", "", "r"));
    assert.deepEqual(parseDevice("/dev/sdc:/dev/xvdc:rw"), device("/dev/sdc", "/dev/xvdc", "rw"));
    for (const bad of ["", ":/x", "/a:/b:r:w", "/dev/sdc:xvdc"]) assert.throws(() => parseDevice(bad), UsageError, bad);
  });

  it("maps CRI devices and add_ambient_capabilities onto hull.v1 instead of refusing them", () => {
    const { config } = criToHullConfig(
      CriContainerConfig.fromPartial({
        image: { image: "busybox" },
        devices: [{ hostPath: "/dev/null", containerPath: "/dev/hull-null", permissions: "r" }],
        linux: { securityContext: { capabilities: { dropCapabilities: ["ALL"], addAmbientCapabilities: ["NET_BIND_SERVICE"] } } },
      }),
    );
    assert.deepEqual(config.devices, [device("/dev/null", "/dev/hull-null", "r")]);
    assert.deepEqual(config.security?.capAmbient, ["NET_BIND_SERVICE"]);
    assert.deepEqual(config.security?.capDrop, ["ALL"]);
  });
});
