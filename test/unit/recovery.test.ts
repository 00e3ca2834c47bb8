// Recovery at start (src/recovery/): planRecovery's decision for each case
// the header of recovery.ts lists, then recoverAll end to end over the fake
// runtime: an engine is closed (hulld stopped), the host changes under it,
// and a new engine over the same state root and the same runtime recovers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerState, type OperationIntent } from "../../src/store/record.js";
import type { RuntimeState } from "../../src/oci/runtime.js";
import { MONITOR_DIED_REASON, VANISHED_REASON, planRecovery, type RecoveryPlan } from "../../src/recovery/plan.js";
import { recoverAll } from "../../src/recovery/recovery.js";
import { initIntent, removeIntent, stopIntent } from "../../src/engine/intents.js";
import { startContainer } from "../../src/ops/start.js";
import { FakeRuntime, type FakeCall } from "../helpers/fake-runtime.js";
import { openFakeEngine, type FakeEnv } from "../helpers/fake-engine.js";

const S = ContainerState;
const seen = (status: string): RuntimeState => ({ id: "x", pid: status === "stopped" ? 0 : 42, status, bundle: "/b" });
const NONE = { finishRemoval: false, undoInit: false, clearStaleIntent: false } as const;
const plan = (state: ContainerState, runtime: RuntimeState | undefined, monitorAlive: boolean, intent?: OperationIntent): RecoveryPlan =>
  planRecovery({ state, intent, runtime, monitorAlive });

describe("planRecovery", () => {
  const LIVE = [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING];

  it("a live process with its monitor: kept, in the runtime's state", () => {
    for (const state of LIVE) {
      for (const status of ["created", "running", "paused"]) {
        assert.deepEqual(
          plan(state, seen(status), true),
          { ...NONE, action: { kind: "keep-live", monitorGone: false } },
          `${ContainerState[state]} / ${status}`,
        );
      }
    }
  });

  it("a live process whose monitor is gone: kept, the gap noted", () => {
    for (const state of LIVE) assert.deepEqual(plan(state, seen("running"), false).action, { kind: "keep-live", monitorGone: true });
  });

  it("exited while hulld was down, monitor alive: its exit file is on the way", () => {
    for (const state of LIVE) assert.deepEqual(plan(state, seen("stopped"), true), { ...NONE, action: { kind: "await-exit-file" } });
  });

  it("the runtime container vanished: recorded with VANISHED_REASON, whatever the monitor", () => {
    for (const state of LIVE) {
      for (const monitorAlive of [false, true])
        assert.deepEqual(plan(state, undefined, monitorAlive), { ...NONE, action: { kind: "record-vanished", reason: VANISHED_REASON } });
    }
  });

  it("exited and the monitor died: recorded with MONITOR_DIED_REASON", () => {
    for (const state of LIVE) assert.deepEqual(plan(state, seen("stopped"), false).action, { kind: "record-vanished", reason: MONITOR_DIED_REASON });
  });

  it("a STOPPING cut short is decided like any live record (recovery then goes on with the stop)", () => {
    const intent = stopIntent(10);
    assert.deepEqual(plan(S.CONTAINER_STATE_STOPPING, seen("running"), true, intent), { ...NONE, action: { kind: "keep-live", monitorGone: false } });
    assert.deepEqual(plan(S.CONTAINER_STATE_STOPPING, seen("paused"), true, intent).action, { kind: "keep-live", monitorGone: false });
    assert.deepEqual(plan(S.CONTAINER_STATE_STOPPING, seen("stopped"), true, intent).action, { kind: "await-exit-file" });
    assert.deepEqual(plan(S.CONTAINER_STATE_STOPPING, undefined, false, intent).action, { kind: "record-vanished", reason: VANISHED_REASON });
  });

  it("an init intent on a record that never reached CREATED: undoInit (which deletes the leftovers itself)", () => {
    for (const state of [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_EXITED, S.CONTAINER_STATE_STOPPED]) {
      for (const [runtime, monitorAlive] of [
        [seen("created"), true],
        [undefined, false],
        [undefined, true],
      ] as const) {
        assert.deepEqual(plan(state, runtime, monitorAlive, initIntent()), { ...NONE, undoInit: true, action: { kind: "none" } }, ContainerState[state]);
      }
    }
  });

  it("an init intent on a live record: a stale note, cleared; the process decided as usual", () => {
    assert.deepEqual(plan(S.CONTAINER_STATE_CREATED, seen("created"), true, initIntent()), {
      ...NONE,
      clearStaleIntent: true,
      action: { kind: "keep-live", monitorGone: false },
    });
    assert.deepEqual(plan(S.CONTAINER_STATE_RUNNING, undefined, false, initIntent()), {
      ...NONE,
      clearStaleIntent: true,
      action: { kind: "record-vanished", reason: VANISHED_REASON },
    });
  });

  it("a removal cut short (intent or REMOVING): finished, nothing else", () => {
    for (const state of [...LIVE, S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_EXITED, S.CONTAINER_STATE_STOPPED]) {
      assert.deepEqual(plan(state, seen("running"), true, removeIntent()), { ...NONE, finishRemoval: true, action: { kind: "none" } });
    }
    assert.deepEqual(plan(S.CONTAINER_STATE_REMOVING, undefined, false), { ...NONE, finishRemoval: true, action: { kind: "none" } });
  });

  it("CONFIGURED or EXITED with a leftover runtime container or monitor: delete-leftovers; with none: nothing", () => {
    for (const state of [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_EXITED]) {
      assert.deepEqual(plan(state, seen("stopped"), false), { ...NONE, action: { kind: "delete-leftovers" } });
      assert.deepEqual(plan(state, seen("running"), true).action, { kind: "delete-leftovers" });
      assert.deepEqual(plan(state, undefined, true).action, { kind: "delete-leftovers" });
      assert.deepEqual(plan(state, undefined, false), { ...NONE, action: { kind: "none" } });
    }
  });
});

/**
 * Runs before(env) on a first engine, closes it, runs between(fake), then
 * recovers on a second engine over the same dirs and fake; after() gets the
 * runtime calls made since recovery began.
 */
async function acrossRestart(
  before: (env: FakeEnv) => Promise<string>,
  between: (fake: FakeRuntime, id: string) => Promise<void>,
  after: (env: FakeEnv, id: string, report: Awaited<ReturnType<typeof recoverAll>>, callsSince: () => FakeCall[]) => Promise<void>,
): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), "hull-recovery-"));
  const fake = new FakeRuntime();
  try {
    const first = await openFakeEngine({ base, fake });
    let id: string;
    try {
      id = await before(first);
    } finally {
      await first.close();
    }
    await between(fake, id);
    await fake.settled();
    const second = await openFakeEngine({ base, fake });
    const mark = fake.calls.length;
    try {
      const report = await recoverAll(second.engine);
      await after(second, id, report, () => fake.calls.slice(mark));
    } finally {
      await second.close();
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

async function runningContainer(env: FakeEnv, extra: Parameters<FakeEnv["create"]>[0] = {}): Promise<string> {
  const c = await env.create(extra);
  await startContainer(env.engine, c.id, false);
  return c.id;
}

describe("recoverAll over the fake runtime", { concurrency: true }, () => {
  it("a RUNNING record whose runtime container vanished: exit -1 with the reason, cleaned up", () =>
    acrossRestart(
      (env) => runningContainer(env),
      async (fake, id) => {
        // Deleted behind hulld's back with its monitor killed first: no exit file will ever come.
        fake.killMonitor(id);
        await fake.delete(id, true);
      },
      async (env, id, report) => {
        assert.deepEqual(report.repaired, [id]);
        await env.settle();
        const rec = await env.get(id);
        assert.equal(rec.state, S.CONTAINER_STATE_EXITED);
        assert.equal(rec.exitCode, -1);
        assert.equal(rec.stateReason, VANISHED_REASON);
        const exit = (await env.eventRecords(id)).filter((e) => e.type === "exit");
        assert.equal(exit.length, 1);
        assert.deepEqual(exit[0]?.attributes, { exitCode: "-1", reason: VANISHED_REASON });
      },
    ));

  it("an init intent left on a CONFIGURED record: the half-made runtime container and its monitor go, the intent is cleared", () => {
    let monitorPid = 0;
    return acrossRestart(
      async (env) => {
        const c = await env.create();
        // What a crash inside initLocked leaves: the intent, then conmon and runc's container, and no CREATED save.
        await env.engine.store.setIntent(c.id, initIntent());
        const { paths } = env.engine;
        ({ monitorPid } = await env.fake.create({
          id: c.id,
          name: c.name,
          bundlePath: env.engine.bundlePath(c.id),
          exitDir: paths.exitDir,
          persistDir: join(paths.persistDir, c.id),
          logPath: c.logPath,
          tty: false,
          stdin: false,
        }));
        return c.id;
      },
      async () => undefined,
      async (env, id, report, callsSince) => {
        assert.deepEqual(report.repaired, [id]);
        assert.equal(await env.fake.exists(id), false);
        assert.deepEqual(callsSince(), [
          ["delete", id, "force"],
          ["endMonitors", monitorPid],
          ["removeMonitorFiles", id],
        ]);
        assert.equal(await env.fake.isAlive(monitorPid), false);
        assert.equal(env.engine.store.getIntent(id), undefined);
        const rec = await env.get(id);
        assert.equal(rec.state, S.CONTAINER_STATE_CONFIGURED);
        const sync = (await env.eventRecords(id)).filter((e) => e.type === "sync");
        assert.deepEqual(
          sync.map((e) => e.attributes),
          [{ recovered: "init-undone" }],
        );
      },
    );
  });

  it("an exit while hulld was down: its code recorded from the exit file, then the restart policy applied", () =>
    acrossRestart(
      (env) => runningContainer(env, { restartPolicy: { name: "always", maxRetries: 0 } }),
      async (fake, id) => fake.exit(id, 3),
      async (env, id) => {
        const rec = await env.waitFor(id, (r) => r.state === S.CONTAINER_STATE_RUNNING && r.restartCount === 1);
        assert.equal(rec.exitCode, 0);
        await env.settle();
        const exit = (await env.eventRecords(id)).filter((e) => e.type === "exit");
        assert.deepEqual(
          exit.map((e) => e.attributes.exitCode),
          ["3"],
        );
        assert.equal((await env.events(id)).at(-1), "restart");
      },
    ));

  it("a STOPPING cut short after its deadline: SIGKILL at once, the exit recorded and cleaned up", () =>
    acrossRestart(
      async (env) => {
        const id = await runningContainer(env);
        env.fake.behave(id, { onSignal: () => "ignore" });
        // What beginStop saved before hulld died: STOPPING with a deadline already passed; the process ignored SIGTERM.
        const rec = await env.get(id);
        await env.engine.saveWithIntent({ ...rec, state: S.CONTAINER_STATE_STOPPING, stoppedByUser: true }, stopIntent(0));
        await env.fake.kill(id, 15);
        return id;
      },
      async () => undefined,
      async (env, id, _report, callsSince) => {
        const rec = await env.waitFor(id, (r) => r.state === S.CONTAINER_STATE_EXITED);
        assert.equal(rec.exitCode, 137);
        assert.equal(rec.stoppedByUser, true);
        // The deadline had passed: no second stop signal, SIGKILL at once.
        assert.deepEqual(callsSince().filter((c) => c[0] === "kill")[0], ["kill", id, 9]);
        await env.settle();
        // The stop goes on, it does not begin again: no second stop event.
        assert.deepEqual((await env.events(id)).slice(-3), ["start", "exit", "cleanup"]);
        assert.equal(env.engine.store.getIntent(id), undefined);
      },
    ));

  it("a runtime container no record owns is removed as an orphan", () => {
    const orphan = "f".repeat(64);
    return acrossRestart(
      async (env) => {
        const { paths } = env.engine;
        await env.fake.create({
          id: orphan,
          name: "orphan",
          bundlePath: "/nonexistent",
          exitDir: paths.exitDir,
          persistDir: paths.persistDir,
          logPath: "/dev/null",
          tty: false,
          stdin: false,
        });
        await env.fake.start(orphan);
        return orphan;
      },
      async () => undefined,
      async (env, id, report) => {
        assert.deepEqual(report.orphans, [id]);
        assert.equal(await env.fake.exists(id), false);
      },
    );
  });
});
