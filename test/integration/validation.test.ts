// Argument validation and id resolution: INVALID_ARGUMENT with no record
// created, NOT_FOUND, AMBIGUOUS_ID, NAME_IN_USE; List shows only valid ones.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { BatchOperationKind, type ContainerConfig, type DeepPartial } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, type Api } from "../helpers/api.js";
import { S, SLEEP, assertState, config, create, createStarted, inspect, must, removeAll } from "../helpers/fixtures.js";

const INVALID = grpc.status.INVALID_ARGUMENT;

describe("validation", () => {
  /** Every container that was validly created and not yet removed. */
  const valid = new Set<string>();
  // Best effort, as daemonSuite's own removal of `made`: d.cleanup() must still run after a failed test.
  const s = daemonSuite({ beforeCleanup: (d) => removeAll(d.api, valid).catch(() => undefined) });
  const api = (): Api => s.api;

  const badConfigs: Array<[string, () => DeepPartial<ContainerConfig>]> = [
    ["an empty command", () => ({ command: [] })],
    ["an unknown stop_signal", () => ({ stopSignal: "SIGFOO" })],
    ["a rootfs_path that does not exist", () => ({ rootfsPath: "/nonexistent/hull-test-rootfs" })],
    ["neither image nor rootfs_path", () => ({ rootfsPath: "", image: "" })],
    ['the name "a b"', () => ({ name: "a b" })],
    ['the name "-x"', () => ({ name: "-x" })],
    ["an env entry without =", () => ({ env: ["OK=1", "NOEQUALS"] })],
    ["a relative mount destination", () => ({ mounts: [{ type: "bind", source: s.rootfs, destination: "relative/dir" }] })],
  ];

  for (const [what, extra] of badConfigs) {
    it(`create with ${what} is INVALID_ARGUMENT and creates nothing`, async () => {
      const cfg = config(s.rootfs, SLEEP, extra());
      const before = (await api().listContainers({})).containers.length;
      await assertGrpcError(api().createContainer({ config: cfg }), INVALID, "INVALID_ARGUMENT");
      assert.equal((await api().listContainers({})).containers.length, before, "no record was created");
      const name = must(cfg.name, "name");
      assert.deepEqual(
        (await api().listContainers({ name })).containers.filter((c) => c.name === name),
        [],
      );
    });
  }

  it("Kill with an unknown signal name is INVALID_ARGUMENT and leaves the container running", async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    valid.add(c.id);
    await assertGrpcError(api().killContainer({ id: c.id, signal: "SIGFOO" }), INVALID, "INVALID_ARGUMENT");
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_RUNNING);
    assert.equal((await inspect(api(), c.id)).stoppedByUser, false);
    // Names with and without the SIG prefix, and numbers, are all accepted.
    await api().killContainer({ id: c.id, signal: "KILL" });
    assert.equal((await api().waitContainer({ id: c.id })).exitCode, 137);
  });

  it("an unknown id or name is NOT_FOUND CONTAINER_NOT_FOUND for every call", async () => {
    const NF = grpc.status.NOT_FOUND;
    const R = "CONTAINER_NOT_FOUND";
    for (const id of ["f".repeat(64), "no-such-container"]) {
      await assertGrpcError(api().inspectContainer({ id }), NF, R, id);
      await assertGrpcError(api().initContainer({ id }), NF, R);
      await assertGrpcError(api().startContainer({ id }), NF, R);
      await assertGrpcError(api().stopContainer({ id }), NF, R);
      await assertGrpcError(api().killContainer({ id, signal: "SIGKILL" }), NF, R);
      await assertGrpcError(api().pauseContainer({ id }), NF, R);
      await assertGrpcError(api().waitContainer({ id }), NF, R);
      await assertGrpcError(api().cleanupContainer({ id }), NF, R);
      await assertGrpcError(api().syncContainer({ id }), NF, R);
      await assertGrpcError(api().removeContainer({ id, force: true }), NF, R);
      await assertGrpcError(api().batch({ id, operations: [{ kind: BatchOperationKind.BATCH_OPERATION_KIND_INSPECT }] }), NF, R);
    }
  });

  it("an ambiguous id prefix is INVALID_ARGUMENT AMBIGUOUS_ID and lists the candidates", async () => {
    const byFirst = new Map<string, string[]>();
    const note = (id: string): string[] => {
      const group = [...(byFirst.get(id[0] ?? "") ?? []), id];
      byFirst.set(id[0] ?? "", group);
      return group;
    };
    for (const c of (await api().listContainers({})).containers) note(c.id);
    let group = [...byFirst.values()].find((g) => g.length >= 2);
    // 16 hex digits: 17 ids always contain two with the same first one.
    for (let i = 0; i < 17 && !group; i++) {
      const c = await create(api(), s.rootfs, SLEEP);
      valid.add(c.id);
      const g = note(c.id);
      if (g.length >= 2) group = g;
    }
    assert.ok(group, "two ids share a first hex digit");
    const prefix = group[0]?.[0] ?? "";
    const e = await assertGrpcError(api().inspectContainer({ id: prefix }), INVALID, "AMBIGUOUS_ID");
    for (const id of group) assert.ok(e.message.includes(id.slice(0, 12)), `candidate ${id.slice(0, 12)} listed: ${e.message}`);
    await assertGrpcError(api().startContainer({ id: prefix }), INVALID, "AMBIGUOUS_ID");
    await assertGrpcError(api().removeContainer({ id: prefix, force: true }), INVALID, "AMBIGUOUS_ID");
    // Nothing happened to the candidates, and a longer prefix resolves.
    for (const id of group) assert.equal((await inspect(api(), id.slice(0, 20))).id, id);
  });

  it("a duplicate name is ALREADY_EXISTS NAME_IN_USE", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    valid.add(c.id);
    await assertGrpcError(api().createContainer({ config: config(s.rootfs, ["true"], { name: c.name }) }), grpc.status.ALREADY_EXISTS, "NAME_IN_USE", c.name);
    const same = (await api().listContainers({ name: c.name })).containers;
    assert.deepEqual(
      same.map((x) => x.id),
      [c.id],
    );
    assert.deepEqual((await inspect(api(), c.name)).config?.command, [...SLEEP], "the original is untouched");
  });

  it("List returns exactly the validly created containers", async () => {
    const listed = (await api().listContainers({})).containers.map((c) => c.id).sort();
    assert.deepEqual(listed, [...valid].sort());
    await removeAll(api(), valid);
    valid.clear();
    assert.deepEqual((await api().listContainers({})).containers, []);
  });
});
