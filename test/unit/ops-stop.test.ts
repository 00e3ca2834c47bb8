// StopContainer over the fake runtime (src/ops/stop.ts): escalation to
// SIGKILL after the timeout, a second Stop(0) escalating a long stop at once,
// and a stop whose monitor died (exit -1 with the reason, never INTERNAL).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ContainerState, type ContainerRecord } from "../../src/store/record.js";
import { startContainer } from "../../src/ops/start.js";
import { stopContainer } from "../../src/ops/stop.js";
import { withFakeEngine, type FakeEnv } from "../helpers/fake-engine.js";

const S = ContainerState;
const stoppedOrExited = (rec: ContainerRecord): boolean => rec.state === S.CONTAINER_STATE_STOPPED || rec.state === S.CONTAINER_STATE_EXITED;

async function running(env: FakeEnv, ignoreTerm: boolean): Promise<string> {
  const c = await env.create();
  if (ignoreTerm) env.fake.behave(c.id, { onSignal: () => "ignore" });
  const started = await startContainer(env.engine, c.id, false);
  assert.equal(started.state, S.CONTAINER_STATE_RUNNING);
  return c.id;
}

describe("StopContainer with the fake runtime", { concurrency: true }, () => {
  it("sends SIGTERM, then SIGKILL once the timeout passes, and records 137", () =>
    withFakeEngine(async (env) => {
      const id = await running(env, true);
      const began = Date.now();
      const stopped = await stopContainer(env.engine, id, 1);
      assert.ok(Date.now() - began >= 900, "SIGKILL came before the 1 s timeout");
      assert.ok(stoppedOrExited(stopped), `state ${ContainerState[stopped.state]}`);
      assert.equal(stopped.exitCode, 137);
      assert.equal(stopped.exitSignal, 9);
      assert.equal(stopped.stoppedByUser, true);
      assert.deepEqual(env.fake.callsOf("kill"), [
        ["kill", id, 15],
        ["kill", id, 9],
      ]);
      await env.settle();
      const final = await env.get(id);
      assert.equal(final.state, S.CONTAINER_STATE_EXITED);
      assert.equal(final.exitCode, 137);
      assert.equal(env.engine.store.getIntent(id), undefined, "cleanup clears the stop intent");
      assert.deepEqual(await env.events(id), ["create", "init", "start", "stop", "exit", "cleanup"]);
      const evs = await env.eventRecords(id);
      assert.deepEqual(evs.find((e) => e.type === "stop")?.attributes, { signal: "15", timeout: "1" });
      assert.deepEqual(evs.find((e) => e.type === "exit")?.attributes, { exitCode: "137", signal: "9" });
    }));

  it("a second Stop(0) escalates a long stop at once, and both return", () =>
    withFakeEngine(async (env) => {
      const id = await running(env, true);
      const first = stopContainer(env.engine, id, 30);
      await env.waitFor(id, (r) => r.state === S.CONTAINER_STATE_STOPPING);
      const began = Date.now();
      const second = await stopContainer(env.engine, id, 0);
      const firstRec = await first;
      assert.ok(Date.now() - began < 10_000, "the first stop waited on instead of returning after the kill");
      for (const rec of [firstRec, second]) {
        assert.ok(stoppedOrExited(rec), `state ${ContainerState[rec.state]}`);
        assert.equal(rec.exitCode, 137);
      }
      const kills = env.fake.callsOf("kill");
      assert.deepEqual(kills[0], ["kill", id, 15]);
      assert.deepEqual(kills[1], ["kill", id, 9]);
      assert.ok(
        kills.slice(1).every((k) => k[2] === 9),
        `kills ${JSON.stringify(kills)}`,
      );
      await env.settle();
      assert.equal((await env.get(id)).state, S.CONTAINER_STATE_EXITED);
      // The second stop only escalates: one stop event, one exit.
      assert.deepEqual(await env.events(id), ["create", "init", "start", "stop", "exit", "cleanup"]);
    }));

  it("a stop whose monitor died ends with exit -1 and the reason", () =>
    withFakeEngine(async (env) => {
      const id = await running(env, false);
      env.fake.killMonitor(id);
      const stopped = await stopContainer(env.engine, id, 0);
      assert.ok(stoppedOrExited(stopped), `state ${ContainerState[stopped.state]}`);
      assert.equal(stopped.exitCode, -1);
      assert.match(stopped.stateReason, /monitor \(conmon\) was gone/);
      await env.settle();
      const final = await env.get(id);
      assert.equal(final.state, S.CONTAINER_STATE_EXITED);
      assert.equal(final.exitCode, -1);
      assert.equal(final.stateReason, stopped.stateReason);
      const exit = (await env.eventRecords(id)).filter((e) => e.type === "exit");
      assert.equal(exit.length, 1);
      assert.equal(exit[0]?.attributes.exitCode, "-1");
      assert.equal(exit[0]?.attributes.reason, stopped.stateReason);
      assert.deepEqual(env.fake.callsOf("kill")[0], ["kill", id, 9]);
      assert.deepEqual(env.fake.callsOf("delete"), [["delete", id, "force"]], "cleanup deleted the runtime container");
    }));
});
