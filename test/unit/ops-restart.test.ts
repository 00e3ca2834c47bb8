// RestartContainer (src/ops/restart.ts) and the restart policies
// (src/domain/restart-policy.ts, applied by cleanup after an exit) over the
// fake runtime: the pure table, then end to end through the exit handler.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ContainerState, type ContainerRecord } from "../../src/store/record.js";
import { ContainerConfig } from "../../src/gen/hull/v1/container.js";
import { shouldRestart } from "../../src/domain/restart-policy.js";
import { initContainer, startContainer } from "../../src/ops/start.js";
import { stopContainer } from "../../src/ops/stop.js";
import { killContainer } from "../../src/ops/kill.js";
import { restartContainer } from "../../src/ops/restart.js";
import { isSubsequence, withFakeEngine, type FakeEnv } from "../helpers/fake-engine.js";

const S = ContainerState;
const exited = (rec: ContainerRecord): boolean => rec.state === S.CONTAINER_STATE_EXITED;

/** The restart the user asked for: the process runs again, the count of policy restarts starts over (libpod's init without retainRetries). */
async function assertRestarted(env: FakeEnv, rec: ContainerRecord, createsBefore: number): Promise<void> {
  assert.equal(rec.state, S.CONTAINER_STATE_RUNNING);
  assert.equal(rec.exitCode, 0, "a fresh run has no exit code");
  assert.equal(rec.restartCount, 0);
  assert.equal(rec.stoppedByUser, false);
  assert.equal(env.fake.callsOf("create").length, createsBefore + 1, "a new runtime container");
  assert.equal((await env.fake.state(rec.id))?.status, "running");
  await env.settle();
  assert.equal((await env.get(rec.id)).state, S.CONTAINER_STATE_RUNNING, "the old exit's handler left the new run alone");
  const evs = await env.eventRecords(rec.id);
  assert.equal(evs.at(-1)?.type, "restart");
  assert.deepEqual(evs.at(-1)?.attributes, { restartCount: "0" });
}

describe("RestartContainer with the fake runtime", { concurrency: true }, () => {
  it("restarts a CREATED container: its init is killed (SIGKILL, whatever the timeout), then it starts", () =>
    withFakeEngine(async (env) => {
      const c = await env.create();
      await initContainer(env.engine, c.id, false);
      const rec = await restartContainer(env.engine, c.id, 5);
      assert.deepEqual(env.fake.callsOf("kill"), [["kill", c.id, 9]]);
      await assertRestarted(env, rec, 1);
      assert.ok(isSubsequence(await env.events(c.id), ["create", "init", "stop", "exit", "init", "start", "restart"]), (await env.events(c.id)).join(","));
    }));

  it("restarts a RUNNING container: the stop signal, the exit, then a new run", () =>
    withFakeEngine(async (env) => {
      const c = await env.create();
      const first = await startContainer(env.engine, c.id, false);
      const rec = await restartContainer(env.engine, c.id, 1);
      assert.deepEqual(env.fake.callsOf("kill"), [["kill", c.id, 15]]);
      assert.notEqual(rec.pid, first.pid);
      await assertRestarted(env, rec, 1);
      const exit = (await env.eventRecords(c.id)).find((e) => e.type === "exit");
      assert.equal(exit?.attributes.exitCode, "143");
      assert.ok(isSubsequence(await env.events(c.id), ["create", "init", "start", "stop", "exit", "init", "start", "restart"]));
    }));

  it("restarts an EXITED container without a stop", () =>
    withFakeEngine(async (env) => {
      const c = await env.create();
      await startContainer(env.engine, c.id, false);
      env.fake.exit(c.id, 3);
      await env.waitFor(c.id, exited);
      const rec = await restartContainer(env.engine, c.id, 1);
      assert.deepEqual(env.fake.callsOf("kill"), []);
      await assertRestarted(env, rec, 1);
      assert.deepEqual(await env.events(c.id), ["create", "init", "start", "exit", "cleanup", "init", "start", "restart"]);
    }));

  it("a user restart starts the policy's restart count over", () =>
    withFakeEngine(async (env) => {
      const c = await env.create({ restartPolicy: { name: "on-failure", maxRetries: 0 } });
      await startContainer(env.engine, c.id, false);
      env.fake.exit(c.id, 1);
      await env.waitFor(c.id, (r) => r.state === S.CONTAINER_STATE_RUNNING && r.restartCount === 1);
      await env.settle();
      const rec = await restartContainer(env.engine, c.id, 0);
      await assertRestarted(env, rec, 2);
    }));
});

const POLICIES = ["", "no", "on-failure", "on-failure:2", "always", "unless-stopped"] as const;

function policyOf(p: (typeof POLICIES)[number]): { name: string; maxRetries: number } {
  const [name = "", max = "0"] = p.split(":");
  return { name, maxRetries: Number(max) };
}

/** Written from Docker's and Podman's documentation, not from the code: exit 0 / non-zero, restarts so far. */
function expected(p: (typeof POLICIES)[number], exitCode: number, restartCount: number): boolean {
  switch (p) {
    case "":
    case "no":
      return false;
    case "on-failure":
      return exitCode !== 0;
    case "on-failure:2":
      return exitCode !== 0 && restartCount < 2;
    case "always":
    case "unless-stopped":
      return true;
  }
}

describe("restart policies", () => {
  it("shouldRestart: every policy, exit 0 and non-zero, retries left or not, stopped by the user or not", () => {
    for (const p of POLICIES) {
      for (const exitCode of [0, 1, 137, -1]) {
        for (const restartCount of [0, 1, 2, 5]) {
          for (const stoppedByUser of [false, true]) {
            const config = ContainerConfig.fromPartial({ restartPolicy: policyOf(p) });
            const want = !stoppedByUser && expected(p, exitCode, restartCount);
            assert.equal(
              shouldRestart({ config, exitCode, restartCount, stoppedByUser }),
              want,
              `${p || "(none)"} exit ${exitCode} count ${restartCount} byUser ${stoppedByUser}`,
            );
          }
        }
      }
    }
    // No policy at all (the field unset).
    assert.equal(shouldRestart({ config: ContainerConfig.fromPartial({}), exitCode: 1, restartCount: 0, stoppedByUser: false }), false);
  });

  it("after the process exits by itself: restarted (count 1, restart event) or cleaned up to EXITED, as the policy says", () =>
    withFakeEngine(async (env) => {
      const cases = POLICIES.flatMap((p) => [0, 3].map((code) => ({ p, code })));
      await Promise.all(
        cases.map(async ({ p, code }) => {
          const what = `${p || "(none)"} after exit ${code}`;
          const c = await env.create({ restartPolicy: policyOf(p) });
          await startContainer(env.engine, c.id, false);
          env.fake.exit(c.id, code);
          const restart = expected(p, code, 0);
          const rec = await env.waitFor(c.id, (r) => (restart ? r.state === S.CONTAINER_STATE_RUNNING && r.restartCount === 1 : exited(r)));
          if (!restart) assert.equal(rec.exitCode, code, what);
          // The exit handler stores the restart event after the RUNNING save.
          await env.settle();
          const evs = await env.eventRecords(c.id);
          const restarts = evs.filter((e) => e.type === "restart");
          assert.equal(restarts.length, restart ? 1 : 0, what);
          if (restart) assert.deepEqual(restarts[0]?.attributes, { restartCount: "1", policy: policyOf(p).name }, what);
          assert.equal(env.fake.calls.filter((call) => call[0] === "create" && call[1] === c.id).length, restart ? 2 : 1, what);
        }),
      );
      await env.settle();
    }));

  it("on-failure:2 restarts twice, then leaves the container EXITED with its code", () =>
    withFakeEngine(async (env) => {
      const c = await env.create({ restartPolicy: { name: "on-failure", maxRetries: 2 } });
      await startContainer(env.engine, c.id, false);
      for (const count of [1, 2]) {
        env.fake.exit(c.id, 5);
        await env.waitFor(c.id, (r) => r.state === S.CONTAINER_STATE_RUNNING && r.restartCount === count);
      }
      env.fake.exit(c.id, 5);
      const rec = await env.waitFor(c.id, exited);
      assert.equal(rec.exitCode, 5);
      assert.equal(rec.restartCount, 2);
      await env.settle();
      assert.equal((await env.events(c.id)).filter((t) => t === "restart").length, 2);
    }));

  it("never restarts after a user stop or kill, whatever the policy", () =>
    withFakeEngine(async (env) => {
      const cases = ["on-failure", "always", "unless-stopped"].flatMap((name) => (["stop", "kill"] as const).map((how) => ({ name, how })));
      await Promise.all(
        cases.map(async ({ name, how }) => {
          const what = `${name} after a user ${how}`;
          const c = await env.create({ restartPolicy: { name, maxRetries: 0 } });
          await startContainer(env.engine, c.id, false);
          if (how === "stop") await stopContainer(env.engine, c.id, 0);
          else await killContainer(env.engine, c.id, "SIGTERM");
          const rec = await env.waitFor(c.id, exited);
          assert.equal(rec.exitCode, how === "stop" ? 137 : 143, what);
          assert.equal(rec.stoppedByUser, true, what);
          assert.equal(rec.restartCount, 0, what);
        }),
      );
      await env.settle();
      for (const rec of await env.engine.store.listContainers()) {
        assert.equal(rec.state, S.CONTAINER_STATE_EXITED, rec.config.restartPolicy?.name);
        assert.ok(!(await env.events(rec.id)).includes("restart"), rec.config.restartPolicy?.name);
      }
    }));
});
