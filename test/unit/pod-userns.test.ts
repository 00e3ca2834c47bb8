// Pod user namespaces, the decisions: which requests the CRI validator
// refuses, which user namespace a pod's container gets, and the rootfs
// preparation (ids shifted into the range, set-id bits kept; a root that
// container root cannot walk refused by name).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NamespaceMode, NamespaceOption, type UserNamespace } from "../../src/gen/runtime/v1/api.js";
import { checkUsernsOptions } from "../../src/validation/cri/runtime-requests.js";
import { criContainerUserns, criIdMappings, podContainerUserNamespace } from "../../src/ops/pods/userns.js";
import { checkSearchableByOthers } from "../../src/oci/userns-rootfs.js";
import { shiftId } from "../../src/images/shifted-layers.js";
import { HullError } from "../../src/errors.js";
import { ContainerConfig, SecurityOptions } from "../../src/gen/hull/v1/container.js";
import { checkIsolation } from "../../src/validation/isolation-rules.js";
import type { PodRecord } from "../../src/store/record.js";

const U = { hostId: 1000, containerId: 0, length: 100000 };
const G = { hostId: 5000, containerId: 0, length: 100 };
const pod = (u: Partial<UserNamespace>): UserNamespace => ({ mode: NamespaceMode.POD, uids: [U], gids: [G], ...u });
const opts = (usernsOptions: UserNamespace | undefined, over: Partial<NamespaceOption> = {}): NamespaceOption =>
  NamespaceOption.fromPartial({ ...over, ...(usernsOptions ? { usernsOptions } : {}) });
const fieldOf = (fn: () => void): string | undefined => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HullError && err.reason === "INVALID_ARGUMENT", String(err));
    return err.metadata.field;
  }
  return undefined;
};

describe("userns_options validation", () => {
  test("POD needs exactly one range from container id 0 for uids and for gids, within 32-bit ids", () => {
    const f = (u: UserNamespace | undefined, over: Partial<NamespaceOption> = {}) => fieldOf(() => checkUsernsOptions("ns", opts(u, over)));
    assert.equal(f(undefined), undefined);
    assert.equal(f(pod({})), undefined);
    assert.equal(f({ mode: NamespaceMode.NODE, uids: [], gids: [] }), undefined);
    assert.equal(f(pod({ uids: [U, U] })), "ns.userns_options.uids");
    assert.equal(f(pod({ gids: [] })), "ns.userns_options.gids");
    assert.equal(f(pod({ uids: [{ ...U, containerId: 1 }] })), "ns.userns_options.uids[0].container_id");
    assert.equal(f(pod({ gids: [{ ...G, length: 0 }] })), "ns.userns_options.gids[0].length");
    assert.equal(f(pod({ uids: [{ ...U, hostId: 0xffffff00 }] })), "ns.userns_options.uids[0].length");
    assert.equal(f({ mode: NamespaceMode.NODE, uids: [U], gids: [] }), "ns.userns_options.uids");
    assert.equal(f({ mode: NamespaceMode.CONTAINER, uids: [], gids: [] }), "ns.userns_options.mode");
    assert.equal(f({ mode: NamespaceMode.TARGET, uids: [], gids: [] }), "ns.userns_options.mode");
  });

  test("a pod with its own user namespace shares none of the host's network, PID or IPC namespaces (the kubelet's rule)", () => {
    for (const kind of ["network", "pid", "ipc"] as const) {
      assert.equal(
        fieldOf(() => checkUsernsOptions("ns", opts(pod({}), { [kind]: NamespaceMode.NODE }))),
        `ns.${kind}`,
      );
    }
    assert.equal(
      fieldOf(() => checkUsernsOptions("ns", opts({ mode: NamespaceMode.NODE, uids: [], gids: [] }, { network: NamespaceMode.NODE }))),
      undefined,
    );
  });
});

describe("hull.v1 namespaces.user", () => {
  test("joins by absolute path, and only with the mapping runc needs to know container root", () => {
    const f = (over: Partial<ContainerConfig>) => fieldOf(() => checkIsolation("config", ContainerConfig.fromPartial(over)));
    const private_ = SecurityOptions.fromPartial({ userNamespace: { mode: "private", hostId: 1000, size: 100000 } });
    assert.equal(f({ namespaces: { network: "", ipc: "", uts: "", pid: "", user: "/run/p/user" } }), "config.namespaces.user");
    assert.equal(f({ namespaces: { network: "", ipc: "", uts: "", pid: "", user: "run/p/user" }, security: private_ }), "config.namespaces.user");
    assert.equal(f({ namespaces: { network: "", ipc: "", uts: "", pid: "", user: "/run/p/user" }, security: private_ }), undefined);
  });
});

describe("a pod container's user namespace", () => {
  const record = (idMappings: PodRecord["idMappings"]): PodRecord =>
    ({ id: "a".repeat(64), namespaces: { user: "/run/p/user" }, ...(idMappings ? { idMappings } : {}) }) as PodRecord;
  const mapped = criIdMappings(pod({}));

  test("the CRI mapping becomes hull's, gids apart", () => {
    assert.deepEqual(mapped, { uid: { hostId: 1000, size: 100000 }, gid: { hostId: 5000, size: 100 } });
    assert.equal(criIdMappings({ mode: NamespaceMode.NODE, uids: [], gids: [] }), undefined);
    assert.equal(criIdMappings(undefined), undefined);
    assert.deepEqual(criContainerUserns({ mode: NamespaceMode.NODE, uids: [], gids: [] }), { mode: "node" });
  });

  test("is the pod's, whether the container repeats it or says nothing; another one is refused", () => {
    const p = record(mapped);
    for (const asked of [undefined, criContainerUserns(pod({}))]) {
      const ns = podContainerUserNamespace(p, asked);
      assert.deepEqual(
        { mode: ns?.mode, hostId: ns?.hostId, size: ns?.size, gidHostId: ns?.gidHostId, gidSize: ns?.gidSize },
        { mode: "private", hostId: 1000, size: 100000, gidHostId: 5000, gidSize: 100 },
      );
    }
    const field = "config.linux.security_context.namespace_options.userns_options";
    assert.equal(
      fieldOf(() => podContainerUserNamespace(p, criContainerUserns(pod({ uids: [{ ...U, hostId: 2000 }] })))),
      field,
    );
    assert.equal(
      fieldOf(() => podContainerUserNamespace(p, { mode: "node" })),
      field,
    );
    // A pod in the host's user namespace: NODE or nothing is fine, a mapping is not.
    const host = record(undefined);
    assert.equal(podContainerUserNamespace(host, undefined), undefined);
    assert.equal(podContainerUserNamespace(host, { mode: "node" }), undefined);
    assert.equal(
      fieldOf(() => podContainerUserNamespace(host, criContainerUserns(pod({})))),
      field,
    );
  });
});

describe("a user-namespaced rootfs", () => {
  test("ids inside the range move to the host's, ids past it stay (the kernel shows them as the overflow id)", () => {
    const r = { hostId: 200000, size: 65536 };
    assert.equal(shiftId(0, r), 200000);
    assert.equal(shiftId(65535, r), 265535);
    assert.equal(shiftId(65536, r), 65536);
    assert.equal(shiftId(1000, { hostId: 0, size: 4294967295 }), 1000);
  });

  test("a directory above the containers that others cannot search is named", async () => {
    const work = await mkdtemp(join(tmpdir(), "hull-userns-search-"));
    try {
      const containers = join(work, "root", "containers");
      await mkdir(containers, { recursive: true, mode: 0o711 });
      await chmod(join(work, "root"), 0o711);
      await chmod(work, 0o700);
      await assert.rejects(checkSearchableByOthers(containers, "pod x"), (err: unknown) => {
        assert.ok(err instanceof HullError && err.reason === "HOST_UNSUPPORTED");
        assert.match(err.message, new RegExp(`${work} is mode 0700`));
        return true;
      });
      await chmod(work, 0o711);
      await checkSearchableByOthers(containers, "pod x");
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
