// depends_on: non-recursive start refuses while a dependency is down,
// recursive start brings the chain up, unknown dependencies are refused at
// create, and a container others depend on cannot be removed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { Container } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, rejection, type Api } from "../helpers/api.js";
import { S, SLEEP, assertState, config, create, inspect, must, removeAll, uniqueName } from "../helpers/fixtures.js";

const FP = grpc.status.FAILED_PRECONDITION;

describe("dependencies", () => {
  const s = daemonSuite();
  const api = (): Api => s.d.api;

  /** C, then B depending on C, then A depending on B (by name). */
  async function chain(): Promise<[Container, Container, Container]> {
    const c = await create(api(), s.rootfs, SLEEP, { name: uniqueName("dep-c") });
    s.made.push(c.id);
    const b = await create(api(), s.rootfs, SLEEP, { name: uniqueName("dep-b"), dependsOn: [c.name] });
    s.made.push(b.id);
    const a = await create(api(), s.rootfs, SLEEP, { name: uniqueName("dep-a"), dependsOn: [b.name] });
    s.made.push(a.id);
    return [a, b, c];
  }

  it("records depends_on as resolved ids", async () => {
    const [a, b, c] = await chain();
    assert.deepEqual(a.dependencyIds, [b.id]);
    assert.deepEqual((await inspect(api(), b.id)).dependencyIds, [c.id]);
    assert.deepEqual(a.config?.dependsOn, [b.name]);
    await removeAll(api(), [c.id, b.id, a.id]);
  });

  it("a non-recursive start refuses while a dependency is not running", async () => {
    const [a, b, c] = await chain();
    await assertGrpcError(api().startContainer({ id: a.id }), FP, "DEPENDENCY_NOT_RUNNING");
    assertState(await inspect(api(), a.id), S.CONTAINER_STATE_CONFIGURED, "A after the refused start");
    assertState(await inspect(api(), b.id), S.CONTAINER_STATE_CONFIGURED, "B untouched");
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_CONFIGURED, "C untouched");

    // Once C runs, B starts alone, and then A does.
    assertState(must((await api().startContainer({ id: c.id })).container, "start C"), S.CONTAINER_STATE_RUNNING);
    await assertGrpcError(api().startContainer({ id: a.id }), FP, "DEPENDENCY_NOT_RUNNING");
    assertState(must((await api().startContainer({ id: b.id })).container, "start B"), S.CONTAINER_STATE_RUNNING);
    assertState(must((await api().startContainer({ id: a.id })).container, "start A"), S.CONTAINER_STATE_RUNNING);
    await removeAll(api(), [c.id, b.id, a.id]);
  });

  it("a recursive start brings up C, B and A", async () => {
    const [a, b, c] = await chain();
    const started = must((await api().startContainer({ id: a.id, recursive: true })).container, "recursive start");
    assertState(started, S.CONTAINER_STATE_RUNNING);
    for (const x of [c, b, a]) {
      const info = await inspect(api(), x.id);
      assertState(info, S.CONTAINER_STATE_RUNNING, x.name);
      assert.ok(info.pid > 0, `${x.name} has a pid`);
    }
    // Dependencies started first.
    const startedAt = async (x: Container): Promise<number> => must((await inspect(api(), x.id)).startedAt, "startedAt").getTime();
    assert.ok((await startedAt(c)) <= (await startedAt(b)), "C started no later than B");
    assert.ok((await startedAt(b)) <= (await startedAt(a)), "B started no later than A");
    await removeAll(api(), [c.id, b.id, a.id]);
  });

  it("a recursive init takes the dependencies out of CONFIGURED too", async () => {
    const [a, b, c] = await chain();
    assertState(must((await api().initContainer({ id: a.id, recursive: true })).container, "recursive init"), S.CONTAINER_STATE_CREATED);
    for (const x of [b, c]) {
      assertState(await inspect(api(), x.id), [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING], x.name);
    }
    assertState(must((await api().startContainer({ id: a.id, recursive: true })).container, "start"), S.CONTAINER_STATE_RUNNING);
    for (const x of [b, c]) assertState(await inspect(api(), x.id), S.CONTAINER_STATE_RUNNING, x.name);
    await removeAll(api(), [c.id, b.id, a.id]);
  });

  it("depends_on an unknown container is refused at create, and nothing is created", async () => {
    const name = uniqueName("dep-orphan");
    const e = await rejection(api().createContainer({ config: config(s.rootfs, SLEEP, { name, dependsOn: ["no-such-container-xyz"] }) }));
    assert.ok(
      (e.code === grpc.status.NOT_FOUND && e.reason === "CONTAINER_NOT_FOUND") || (e.code === grpc.status.INVALID_ARGUMENT && e.reason === "INVALID_ARGUMENT"),
      `expected NOT_FOUND/CONTAINER_NOT_FOUND or INVALID_ARGUMENT, got ${e.code} ${e.reason}: ${e.message}`,
    );
    assert.ok(e.message.includes("no-such-container-xyz"), e.message);
    assert.deepEqual((await api().listContainers({ name })).containers, []);
    await assertGrpcError(api().inspectContainer({ id: name }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
  });

  it("a container others depend on cannot be removed, with or without force", async () => {
    const [a, b, c] = await chain();
    for (const force of [false, true]) {
      const e = await assertGrpcError(api().removeContainer({ id: b.id, force, timeoutSeconds: 0 }), FP, "CONTAINER_HAS_DEPENDENTS");
      assert.ok(e.message.includes(a.id.slice(0, 12)) || e.message.includes(a.name), `message names the dependent: ${e.message}`);
      assertState(await inspect(api(), b.id), S.CONTAINER_STATE_CONFIGURED, "B still there");
    }
    await assertGrpcError(api().removeContainer({ id: c.id }), FP, "CONTAINER_HAS_DEPENDENTS");

    // Running dependencies are protected as well.
    await api().startContainer({ id: a.id, recursive: true });
    await assertGrpcError(api().removeContainer({ id: b.id, force: true, timeoutSeconds: 0 }), FP, "CONTAINER_HAS_DEPENDENTS");
    assertState(await inspect(api(), b.id), S.CONTAINER_STATE_RUNNING, "B still running");

    // Dependents first, then it works.
    await removeAll(api(), [c.id, b.id, a.id]);
    for (const x of [a, b, c]) {
      await assertGrpcError(api().inspectContainer({ id: x.id }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    }
  });
});
