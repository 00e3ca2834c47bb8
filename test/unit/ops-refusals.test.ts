// A runtime refusal that a concurrent exit explains (Engine.explainRefusal):
// the state was checked, then the process exited and runc refused ("container
// not running"). The answer must be the state table's (as libpod answers
// ErrCtrStateInvalid), never RUNTIME_ERROR or INTERNAL; a refusal with the
// process still alive stays the runtime's.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HullError } from "../../src/errors.js";
import { ContainerState } from "../../src/store/record.js";
import { startContainer } from "../../src/ops/start.js";
import { pauseContainer } from "../../src/ops/pause.js";
import { unpauseContainer } from "../../src/ops/unpause.js";
import { killContainer } from "../../src/ops/kill.js";
import { batchContainer } from "../../src/ops/batch.js";
import { startExec, type ExecRequest } from "../../src/ops/exec.js";
import { withFakeEngine, type FakeEnv } from "../helpers/fake-engine.js";

const S = ContainerState;
const STATE_TABLE_REASONS = ["CONTAINER_STATE_INVALID", "CONTAINER_ALREADY_STOPPED"];

async function reasonOf(p: Promise<unknown>): Promise<HullError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HullError, `not a HullError: ${String(err)}`);
    return err;
  }
  assert.fail("the operation succeeded");
}

/** A running (or paused) container whose next `method` call finds its process just exited with `code`. */
async function racingExit(env: FakeEnv, method: "pause" | "resume" | "kill", paused: boolean, code: number): Promise<string> {
  const c = await env.create();
  await startContainer(env.engine, c.id, false);
  if (paused) await pauseContainer(env.engine, c.id);
  env.fake.failNext(method, new HullError("RUNTIME_ERROR", `runc ${method} ${c.id}: container not running`), () => env.fake.exit(c.id, code));
  return c.id;
}

async function assertExplained(env: FakeEnv, id: string, err: HullError, code: number, op: string): Promise<void> {
  assert.ok(STATE_TABLE_REASONS.includes(err.reason), `${op}: ${err.reason}: ${err.message}`);
  assert.equal(err.reason, "CONTAINER_STATE_INVALID");
  assert.match(err.message, /in state stopped/);
  assert.doesNotMatch(err.message, /container not running/);
  await env.settle();
  const rec = await env.get(id);
  assert.equal(rec.state, S.CONTAINER_STATE_EXITED);
  assert.equal(rec.exitCode, code);
  const events = await env.events(id);
  assert.equal(events.filter((e) => e === "exit").length, 1, events.join(","));
  assert.ok(!events.includes(op), `a refused ${op} left an event: ${events.join(",")}`);
}

describe("runtime refusals explained by a concurrent exit", { concurrency: true }, () => {
  it("pause racing the exit: the state table's refusal", () =>
    withFakeEngine(async (env) => {
      const id = await racingExit(env, "pause", false, 0);
      await assertExplained(env, id, await reasonOf(pauseContainer(env.engine, id)), 0, "pause");
    }));

  it("kill racing the exit: the state table's refusal, and the stopped-by-user mark is not left behind", () =>
    withFakeEngine(async (env) => {
      const id = await racingExit(env, "kill", false, 4);
      await assertExplained(env, id, await reasonOf(killContainer(env.engine, id, "SIGTERM")), 4, "kill");
      assert.equal((await env.get(id)).stoppedByUser, false, "the process exited by itself");
    }));

  it("unpause racing the exit: the state table's refusal", () =>
    withFakeEngine(async (env) => {
      const id = await racingExit(env, "resume", true, 137);
      await assertExplained(env, id, await reasonOf(unpauseContainer(env.engine, id)), 137, "unpause");
    }));

  it("the same under Batch", () =>
    withFakeEngine(async (env) => {
      const id = await racingExit(env, "pause", false, 0);
      const [result] = await batchContainer(env.engine, id, [{ kind: "pause" }, { kind: "unpause" }]);
      assert.ok(result?.error instanceof HullError, "the batch's pause did not fail");
      await assertExplained(env, id, result.error, 0, "pause");
    }));

  // The concurrency stress test's race: the state check passed, a Pause froze
  // the container before runc exec looked, and an Unpause thawed it before hull
  // looked again. runc's own words are the evidence: a refusal, not INTERNAL.
  it("exec refused by runc as paused, thawed again before hull looks: the state table's refusal", () =>
    withFakeEngine(async (env) => {
      const c = await env.create();
      await startContainer(env.engine, c.id, false);
      env.fake.failNext(
        "exec",
        new HullError("RUNTIME_ERROR", `runc exec ${c.id}: exec failed: cannot exec in a paused container (use --ignore-paused to override)`),
      );
      const req: ExecRequest = { command: ["true"], env: [], workingDir: "", user: "", tty: false, stdin: false, timeoutSeconds: 0 };
      const err = await reasonOf(startExec(env.engine, c.id, req, () => undefined));
      assert.equal(err.reason, "CONTAINER_STATE_INVALID", err.message);
      assert.match(err.message, /paused meanwhile/);
      assert.equal((await env.get(c.id)).state, S.CONTAINER_STATE_RUNNING);
      assert.equal((await env.get(c.id)).execSessions.length, 0, "a refused exec left a session");
    }));

  it("exec into a container a Pause froze after the check: the state table's refusal", () =>
    withFakeEngine(async (env) => {
      const c = await env.create();
      await startContainer(env.engine, c.id, false);
      await env.fake.pause(c.id);
      const req: ExecRequest = { command: ["true"], env: [], workingDir: "", user: "", tty: false, stdin: false, timeoutSeconds: 0 };
      const err = await reasonOf(startExec(env.engine, c.id, req, () => undefined));
      assert.equal(err.reason, "CONTAINER_STATE_INVALID", err.message);
      assert.match(err.message, /paused meanwhile/);
    }));

  it("a refusal while the process still runs stays RUNTIME_ERROR", () =>
    withFakeEngine(async (env) => {
      const c = await env.create();
      await startContainer(env.engine, c.id, false);
      env.fake.failNext("pause", new HullError("RUNTIME_ERROR", `runc pause ${c.id}: freezer: device busy`));
      const err = await reasonOf(pauseContainer(env.engine, c.id));
      assert.equal(err.reason, "RUNTIME_ERROR");
      assert.equal((await env.get(c.id)).state, S.CONTAINER_STATE_RUNNING);
      assert.equal((await env.fake.state(c.id))?.status, "running");
    }));
});
