// Batch (src/ops/batch.ts) runs the single RPCs' very operations under one
// hold of the lock: a stop or restart through Batch must end exactly as the
// single StopContainer / RestartContainer does. Each case runs both on twin
// containers (same config, same history) and compares what came out: the
// answer, the final record, the events and the runtime calls.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HullError } from "../../src/errors.js";
import { ContainerState, type ContainerRecord } from "../../src/store/record.js";
import { batchContainer, type BatchStep } from "../../src/ops/batch.js";
import { initContainer, startContainer } from "../../src/ops/start.js";
import { stopContainer } from "../../src/ops/stop.js";
import { restartContainer } from "../../src/ops/restart.js";
import { pauseContainer } from "../../src/ops/pause.js";
import { withFakeEngine, type FakeEnv } from "../helpers/fake-engine.js";

const S = ContainerState;
const a = (word: string): string => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`);
type Setup = "configured" | "created" | "running" | "paused" | "exited";

interface Outcome {
  /** The refusal's reason, or "ok". */
  answer: string;
  final: Pick<ContainerRecord, "state" | "exitCode" | "exitSignal" | "restartCount" | "stoppedByUser" | "stateReason">;
  /** Event types and runtime calls the operation caused (after the setup's). */
  events: string[];
  calls: string[];
}

async function prepare(env: FakeEnv, setup: Setup): Promise<string> {
  const { id } = await env.create();
  if (setup === "created") await initContainer(env.engine, id, false);
  if (setup === "running" || setup === "paused" || setup === "exited") await startContainer(env.engine, id, false);
  if (setup === "paused") await pauseContainer(env.engine, id);
  if (setup === "exited") {
    env.fake.exit(id, 2);
    await env.waitFor(id, (r) => r.state === S.CONTAINER_STATE_EXITED);
  }
  await env.settle();
  return id;
}

async function observe(env: FakeEnv, id: string, run: () => Promise<unknown>): Promise<Outcome> {
  const eventsBefore = (await env.events(id)).length;
  const callsBefore = env.fake.calls.length;
  let answer = "ok";
  try {
    await run();
  } catch (err) {
    answer = err instanceof HullError ? err.reason : `not a HullError: ${String(err)}`;
  }
  await env.settle();
  const { state, exitCode, exitSignal, restartCount, stoppedByUser, stateReason } = await env.get(id);
  return {
    answer,
    final: { state, exitCode, exitSignal, restartCount, stoppedByUser, stateReason },
    events: (await env.events(id)).slice(eventsBefore),
    calls: env.fake.calls
      .slice(callsBefore)
      .filter((c) => c[1] === id)
      .map((c) => [c[0], ...c.slice(2)].join(" ")),
  };
}

async function batchStep(env: FakeEnv, id: string, step: BatchStep): Promise<ContainerRecord> {
  const [result] = await batchContainer(env.engine, id, [step]);
  assert.ok(result, "batch answered no step");
  if (result.error !== undefined) throw result.error;
  return result.rec;
}

/**
 * The single RPC lets go of the lock between the stop and the start, so the
 * exit handler may clean the stopped container up in between (a "cleanup"
 * event and the delete moving from init to cleanup); under Batch it waits.
 * Both end the same; that interleaving is the one allowed difference.
 */
function withoutCleanupRace(o: Outcome): Outcome {
  return { ...o, events: o.events.filter((e) => e !== "cleanup") };
}

async function twins(setup: Setup, single: (env: FakeEnv, id: string) => Promise<unknown>, step: BatchStep): Promise<{ single: Outcome; batch: Outcome }> {
  return withFakeEngine(async (env) => {
    const a = await prepare(env, setup);
    const b = await prepare(env, setup);
    return { single: await observe(env, a, () => single(env, a)), batch: await observe(env, b, () => batchStep(env, b, step)) };
  });
}

describe("Batch stop and restart end as the single RPCs do", { concurrency: true }, () => {
  for (const setup of ["running", "paused", "created"] as const) {
    it(`stop of ${a(setup)} container`, async () => {
      const got = await twins(setup, (env, id) => stopContainer(env.engine, id, 1), { kind: "stop", timeoutSeconds: 1 });
      assert.deepEqual(got.batch, got.single);
      assert.equal(got.single.answer, "ok");
      assert.equal(got.single.final.state, S.CONTAINER_STATE_EXITED);
      assert.equal(got.single.final.stoppedByUser, true);
      assert.deepEqual(got.single.events, ["stop", "exit", "cleanup"]);
      const signal = setup === "created" ? "9" : "15";
      assert.equal(got.single.calls[0], `kill ${signal}`);
      if (setup === "paused")
        assert.ok(got.single.calls.includes("resume"), `a paused container is thawed to act on the stop signal: ${got.single.calls.join(", ")}`);
    });
  }

  for (const setup of ["exited", "configured"] as const) {
    it(`stop of ${a(setup)} container is refused alike`, async () => {
      const got = await twins(setup, (env, id) => stopContainer(env.engine, id, 1), { kind: "stop", timeoutSeconds: 1 });
      assert.deepEqual(got.batch, got.single);
      assert.equal(got.single.answer, setup === "exited" ? "CONTAINER_ALREADY_STOPPED" : "CONTAINER_STATE_INVALID");
      assert.deepEqual(got.single.events, []);
      assert.deepEqual(got.single.calls, []);
    });
  }

  for (const setup of ["created", "running", "exited"] as const) {
    it(`restart of ${a(setup)} container`, async () => {
      const got = await twins(setup, (env, id) => restartContainer(env.engine, id, 1), { kind: "restart", timeoutSeconds: 1 });
      assert.deepEqual(withoutCleanupRace(got.batch), withoutCleanupRace(got.single));
      assert.equal(got.single.final.state, S.CONTAINER_STATE_RUNNING);
      for (const o of [got.single, got.batch]) {
        assert.equal(o.events.at(-1), "restart");
        // A created container's process (runc's init) is stopped too before the new start.
        if (setup !== "exited") assert.deepEqual(o.events.slice(0, 2), ["stop", "exit"]);
        else assert.ok(!o.events.includes("stop"));
        assert.equal(o.calls.filter((c) => c.startsWith("kill")).length, setup === "exited" ? 0 : 1);
        assert.deepEqual(o.calls.slice(-2), ["create", "start"]);
      }
    });
  }

  it("restart of a paused container is refused alike", async () => {
    const got = await twins("paused", (env, id) => restartContainer(env.engine, id, 1), { kind: "restart", timeoutSeconds: 1 });
    assert.deepEqual(got.batch, got.single);
    assert.equal(got.single.answer, "CONTAINER_STATE_INVALID");
    assert.equal(got.single.final.state, S.CONTAINER_STATE_PAUSED);
  });
});
