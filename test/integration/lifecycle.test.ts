// Lifecycle RPCs against a real hulld (runc + conmon): every state, the
// refusals each state makes, exit codes, stop escalation, list filters, Batch.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { BatchOperationKind as K } from "../../src/gen/hull/v1/container.js";
import { pidAlive } from "../helpers/daemon.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, statusReason, type Api } from "../helpers/api.js";
import {
  IGNORE_TERM,
  S,
  SLEEP,
  assertState,
  create,
  createStarted,
  inspect,
  must,
  pending,
  removeAll,
  resolved,
  uniqueName,
  until,
  waitExited,
} from "../helpers/fixtures.js";

const FP = grpc.status.FAILED_PRECONDITION;
const INVALID = "CONTAINER_STATE_INVALID";
const DONE = [S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED];

describe("lifecycle", () => {
  const s = daemonSuite();
  const api = (): Api => s.d.api;

  it("walks one container through every state, refusing what each state refuses", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;
    const short = id.slice(0, 12);
    assert.deepEqual(c.config?.command, [...SLEEP]);
    assert.equal((await inspect(api(), c.name)).id, id, "inspect by name");
    assert.equal((await inspect(api(), short)).id, id, "inspect by unique prefix");

    // CONFIGURED
    await assertGrpcError(api().stopContainer({ id }), FP, INVALID, [short, "configured"]);
    await assertGrpcError(api().killContainer({ id, signal: "SIGKILL" }), FP, INVALID, [short, "configured"]);
    await assertGrpcError(api().pauseContainer({ id }), FP, INVALID);
    assertState(must((await api().cleanupContainer({ id })).container, "cleanup"), S.CONTAINER_STATE_CONFIGURED);

    // CREATED
    assertState(must((await api().initContainer({ id })).container, "init"), S.CONTAINER_STATE_CREATED);
    assertState(await inspect(api(), id), S.CONTAINER_STATE_CREATED);
    await assertGrpcError(api().initContainer({ id }), FP, INVALID, [short, "created"]);
    await assertGrpcError(api().killContainer({ id, signal: "SIGKILL" }), FP, INVALID, [short, "created"]);
    await assertGrpcError(api().pauseContainer({ id }), FP, INVALID);
    await assertGrpcError(api().unpauseContainer({ id }), FP, INVALID);

    // RUNNING
    const running = must((await api().startContainer({ id })).container, "start");
    assertState(running, S.CONTAINER_STATE_RUNNING);
    assert.ok(running.pid > 0 && pidAlive(running.pid), `pid ${running.pid} should be alive`);
    const again = must((await api().startContainer({ id })).container, "second start");
    assertState(again, S.CONTAINER_STATE_RUNNING);
    assert.equal(again.pid, running.pid, "start of a running container is a no-op");
    await assertGrpcError(api().unpauseContainer({ id }), FP, INVALID, [short, "running"]);
    await assertGrpcError(api().cleanupContainer({ id }), FP, INVALID, [short, "running"]);
    await assertGrpcError(api().initContainer({ id }), FP, INVALID);
    await assertGrpcError(api().removeContainer({ id }), FP, INVALID, [short, "running"]);
    assertState(must((await api().syncContainer({ id })).container, "sync"), S.CONTAINER_STATE_RUNNING);
    const listed = (await api().listContainers({ idPrefix: id })).containers;
    assert.deepEqual(
      listed.map((x) => [x.id, x.state]),
      [[id, S.CONTAINER_STATE_RUNNING]],
    );

    // PAUSED
    assertState(must((await api().pauseContainer({ id })).container, "pause"), S.CONTAINER_STATE_PAUSED);
    await assertGrpcError(api().pauseContainer({ id }), FP, INVALID, [short, "paused"]);
    await assertGrpcError(api().restartContainer({ id, timeoutSeconds: 0 }), FP, INVALID);
    assertState(await inspect(api(), id), S.CONTAINER_STATE_PAUSED);
    assertState(must((await api().unpauseContainer({ id })).container, "unpause"), S.CONTAINER_STATE_RUNNING);

    // Restart: a new process.
    const restarted = must((await api().restartContainer({ id, timeoutSeconds: 0 })).container, "restart");
    assertState(restarted, S.CONTAINER_STATE_RUNNING);
    assert.ok(restarted.pid > 0 && restarted.pid !== running.pid, "restart runs a new process");

    // Kill → STOPPED → (automatic cleanup) EXITED.
    await api().killContainer({ id, signal: "SIGKILL" });
    assert.equal((await api().waitContainer({ id })).exitCode, 137);
    assert.equal((await waitExited(api(), id)).state, S.CONTAINER_STATE_EXITED);
    const exited = await inspect(api(), id);
    assertState(exited, S.CONTAINER_STATE_EXITED);
    assert.equal(exited.exitCode, 137);
    assert.equal(exited.stoppedByUser, true);
    await assertGrpcError(api().stopContainer({ id }), FP, "CONTAINER_ALREADY_STOPPED", short);
    await assertGrpcError(api().killContainer({ id, signal: "SIGKILL" }), FP, INVALID, [short, "exited"]);
    await assertGrpcError(api().pauseContainer({ id }), FP, INVALID);
    assertState(must((await api().cleanupContainer({ id })).container, "cleanup of exited"), S.CONTAINER_STATE_EXITED);

    // EXITED → init → CREATED → start → stop.
    assertState(must((await api().initContainer({ id })).container, "re-init"), S.CONTAINER_STATE_CREATED);
    assertState(must((await api().startContainer({ id })).container, "restart"), S.CONTAINER_STATE_RUNNING);
    assertState(must((await api().stopContainer({ id, timeoutSeconds: 0 })).container, "stop"), DONE);
    assert.equal((await api().waitContainer({ id })).exitCode, 137);
    await waitExited(api(), id);

    // Remove.
    assert.equal((await api().removeContainer({ id })).id, id);
    await assertGrpcError(api().inspectContainer({ id }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
  });

  it("reports the exit code of a process that exits by itself, and logs both streams", async () => {
    const c = await createStarted(api(), s.rootfs, ["sh", "-c", "echo out; echo err >&2; exit 7"]);
    s.made.push(c.id);
    const w = await api().waitContainer({ id: c.id });
    assert.equal(w.exitCode, 7);
    assert.ok(DONE.includes(w.state), `wait state ${w.state}`);
    await waitExited(api(), c.id);
    const info = await inspect(api(), c.id);
    assertState(info, S.CONTAINER_STATE_EXITED);
    assert.equal(info.exitCode, 7);
    assert.equal(info.stoppedByUser, false);
    assert.ok(info.logPath, "log_path is set");
    const log = await readFile(info.logPath, "utf8");
    assert.match(log, /out/);
    assert.match(log, /err/);
    await removeAll(api(), [c.id]);
  });

  it("a process killed by signal 9 exits with 137", async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const killed = must((await api().killContainer({ id: c.id, signal: "9" })).container, "kill");
    assert.equal(killed.stoppedByUser, true);
    assert.equal((await api().waitContainer({ id: c.id })).exitCode, 137);
    assert.equal((await inspect(api(), c.id)).exitCode, 137);
    await removeAll(api(), [c.id]);
  });

  it("stop escalates to SIGKILL after the timeout; inspect and list answer while it waits", async () => {
    const c = await createStarted(api(), s.rootfs, IGNORE_TERM);
    s.made.push(c.id);
    const stop = pending(api().stopContainer({ id: c.id, timeoutSeconds: 3 }));
    await api().waitContainer({ id: c.id, condition: S.CONTAINER_STATE_STOPPING });
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_STOPPING);
    const listed = (await api().listContainers({ idPrefix: c.id })).containers;
    assert.deepEqual(
      listed.map((x) => x.state),
      [S.CONTAINER_STATE_STOPPING],
    );
    assert.equal(stop.done(), false, "inspect and list answered while the stop was still pending");
    assertState(must((await resolved(stop)).container, "stop"), DONE);
    assert.equal((await api().waitContainer({ id: c.id })).exitCode, 137);
    await waitExited(api(), c.id);
    const info = await inspect(api(), c.id);
    assert.equal(info.exitCode, 137);
    assert.equal(info.stoppedByUser, true);
    await removeAll(api(), [c.id]);
  });

  for (const escalation of ["stop with timeout 0", "kill"] as const) {
    it(`a pending stop is ended at once by a ${escalation}; the first stop resolves too`, { timeout: 40_000 }, async () => {
      const c = await createStarted(api(), s.rootfs, IGNORE_TERM);
      s.made.push(c.id);
      // Without escalation this stop would wait 60 s, past the test's timeout.
      const first = pending(api().stopContainer({ id: c.id, timeoutSeconds: 60 }, { deadlineMs: 90_000 }));
      await api().waitContainer({ id: c.id, condition: S.CONTAINER_STATE_STOPPING });
      assertState(await inspect(api(), c.id), S.CONTAINER_STATE_STOPPING);
      assert.equal(first.done(), false);
      if (escalation === "kill") {
        await api().killContainer({ id: c.id, signal: "SIGKILL" });
      } else {
        assertState(must((await api().stopContainer({ id: c.id, timeoutSeconds: 0 })).container, "second stop"), DONE);
      }
      assertState(must((await resolved(first)).container, "first stop"), DONE);
      assert.equal((await api().waitContainer({ id: c.id })).exitCode, 137);
      await waitExited(api(), c.id);
      assert.equal((await inspect(api(), c.id)).stoppedByUser, true);
      await removeAll(api(), [c.id]);
    });
  }

  it("remove --force stops and removes a running container", async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    assert.ok(pidAlive(c.pid));
    const res = await api().removeContainer({ id: c.name, force: true, timeoutSeconds: 0 });
    assert.equal(res.id, c.id);
    await assertGrpcError(api().inspectContainer({ id: c.id }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    assert.deepEqual((await api().listContainers({ idPrefix: c.id })).containers, []);
    await until(`pid ${c.pid} to go away`, async () => (pidAlive(c.pid) ? undefined : true), 10_000);
  });

  it("list filters by state, label and name", async () => {
    const tag = uniqueName("lf");
    const web = await createStarted(api(), s.rootfs, SLEEP, { name: `${tag}-web`, labels: { tier: "web" } });
    const db = await create(api(), s.rootfs, SLEEP, { name: `${tag}-db`, labels: { tier: "db" } });
    const ui = await create(api(), s.rootfs, SLEEP, { name: `${tag}-ui`, labels: { tier: "web", team: "x" } });
    s.made.push(web.id, db.id, ui.id);
    const names = async (req: Parameters<Api["listContainers"]>[0]): Promise<string[]> =>
      (await api().listContainers(req)).containers.map((x) => x.name).sort();

    assert.deepEqual(await names({ name: tag }), [db.name, ui.name, web.name].sort());
    assert.deepEqual(await names({ name: `${tag}-d` }), [db.name]);
    assert.deepEqual(await names({ name: tag, states: [S.CONTAINER_STATE_RUNNING] }), [web.name]);
    assert.deepEqual(await names({ name: tag, states: [S.CONTAINER_STATE_CONFIGURED] }), [db.name, ui.name].sort());
    assert.deepEqual(await names({ name: tag, states: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_RUNNING] }), [db.name, ui.name, web.name].sort());
    assert.deepEqual(await names({ name: tag, labels: { tier: "web" } }), [ui.name, web.name].sort());
    assert.deepEqual(await names({ name: tag, labels: { team: "" } }), [ui.name]);
    assert.deepEqual(await names({ name: tag, labels: { tier: "web", team: "x" } }), [ui.name]);
    assert.deepEqual(await names({ name: tag, labels: { tier: "web" }, states: [S.CONTAINER_STATE_CONFIGURED] }), [ui.name]);
    assert.deepEqual(await names({ name: tag, labels: { tier: "none" } }), []);
    assert.deepEqual(await names({ name: `${tag}-nope` }), []);
    assert.deepEqual(await names({ idPrefix: web.id.slice(0, 16) }), [web.name]);
    await removeAll(api(), [web.id, db.id, ui.id]);
    assert.deepEqual(await names({ name: tag }), []);
  });

  it("Batch runs operations under one call and stops at the first error", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;

    const ok = (
      await api().batch({
        id,
        operations: [{ kind: K.BATCH_OPERATION_KIND_INIT }, { kind: K.BATCH_OPERATION_KIND_START }, { kind: K.BATCH_OPERATION_KIND_INSPECT }],
      })
    ).results;
    assert.deepEqual(
      ok.map((r) => r.kind),
      [K.BATCH_OPERATION_KIND_INIT, K.BATCH_OPERATION_KIND_START, K.BATCH_OPERATION_KIND_INSPECT],
    );
    assert.deepEqual(
      ok.map((r) => r.status?.code ?? 0),
      [0, 0, 0],
    );
    assertState(must(ok[0]?.container, "INIT result"), S.CONTAINER_STATE_CREATED);
    assertState(must(ok[2]?.container, "INSPECT result"), S.CONTAINER_STATE_RUNNING);
    assertState(await inspect(api(), id), S.CONTAINER_STATE_RUNNING);

    const third = (
      await api().batch({
        id,
        operations: [{ kind: K.BATCH_OPERATION_KIND_START }, { kind: K.BATCH_OPERATION_KIND_PAUSE }, { kind: K.BATCH_OPERATION_KIND_PAUSE }],
      })
    ).results;
    assert.equal(third.length, 3);
    assert.deepEqual(
      third.slice(0, 2).map((r) => r.status?.code ?? 0),
      [0, 0],
    );
    const failed = must(third[2]?.status, "status of the failed operation");
    assert.equal(failed.code, FP);
    assert.equal(statusReason(failed), INVALID);
    assert.ok(failed.message.includes("paused"), failed.message);

    // The first failure ends the batch: the UNPAUSE after it never runs.
    const first = (await api().batch({ id, operations: [{ kind: K.BATCH_OPERATION_KIND_PAUSE }, { kind: K.BATCH_OPERATION_KIND_UNPAUSE }] })).results;
    assert.equal(first.length, 1);
    assert.equal(first[0]?.status?.code, FP);
    assertState(await inspect(api(), id), S.CONTAINER_STATE_PAUSED);

    const tail = (await api().batch({ id, operations: [{ kind: K.BATCH_OPERATION_KIND_UNPAUSE }, { kind: K.BATCH_OPERATION_KIND_KILL, signal: "SIGKILL" }] }))
      .results;
    assert.deepEqual(
      tail.map((r) => r.status?.code ?? 0),
      [0, 0],
    );
    assert.equal((await api().waitContainer({ id })).exitCode, 137);
    await removeAll(api(), [id]);
  });
});
