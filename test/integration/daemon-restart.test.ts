// Containers outlive hulld: after a SIGTERM or a SIGKILL of the daemon, a
// restarted hulld finds the survivor still RUNNING (same pid) and records the
// exit of the one that ended while it was down. One hulld per state root.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { hulldArgs, pidAlive, runHulld } from "../helpers/daemon.js";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { S, SLEEP, assertState, create, createStarted, inspect, must, removeAll, until, waitExited } from "../helpers/fixtures.js";
import { runcState } from "../helpers/host-view.js";

describe("daemon restart", () => {
  const s = daemonSuite();
  const api = (): Api => s.d.api;

  it("a second hulld on the same --root is refused", async () => {
    const other = await mkdtemp("/tmp/h2-");
    try {
      await mkdir(join(other, "x"));
      const run = await runHulld(hulldArgs(join(other, "s.sock"), s.d.root, join(other, "x")));
      assert.equal(run.signal, null, `the second hulld should exit by itself; output:\n${run.output}`);
      assert.notEqual(run.code, 0, `the second hulld should fail; output:\n${run.output}`);
      assert.ok(run.output.includes(s.d.root), `the error should name the state root ${s.d.root}; output:\n${run.output}`);
      assert.ok(!run.output.includes("hulld listening on"), run.output);
      // The first one is unharmed.
      assert.ok(s.d.running());
      assert.ok(Array.isArray((await api().listContainers({})).containers));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  for (const how of ["SIGTERM", "SIGKILL"] as const) {
    it(`containers survive a ${how} of hulld, and exits while it is down are recorded`, { timeout: 120_000 }, async () => {
      const long = await createStarted(api(), s.rootfs, SLEEP);
      s.made.push(long.id);
      const brief = await createStarted(api(), s.rootfs, ["sh", "-c", "sleep 3; exit 5"]);
      s.made.push(brief.id);
      assert.ok(pidAlive(long.pid) && pidAlive(brief.pid), "both containers run");

      if (how === "SIGTERM") {
        assert.equal(await s.d.stop(), 0, `hulld exits 0 on SIGTERM; output:\n${s.d.output().slice(-4000)}`);
      } else {
        await s.d.kill();
      }
      assert.equal(s.d.running(), false);
      assert.ok(pidAlive(long.pid), "the long-running container survives the daemon");
      await until("the brief container to exit while hulld is down", async () => (pidAlive(brief.pid) ? undefined : true), 20_000);
      assert.ok(pidAlive(long.pid), "still alive after the other one exited");

      await s.d.restart();
      const survivor = await inspect(api(), long.id);
      assertState(survivor, S.CONTAINER_STATE_RUNNING, "survivor");
      assert.equal(survivor.pid, long.pid);
      assert.ok(pidAlive(survivor.pid));

      const w = await api().waitContainer({ id: brief.id }, { deadlineMs: 30_000 });
      assert.equal(w.exitCode, 5);
      await waitExited(api(), brief.id);
      const ended = await inspect(api(), brief.id);
      assertState(ended, S.CONTAINER_STATE_EXITED, "brief");
      assert.equal(ended.exitCode, 5);
      assert.equal(ended.stoppedByUser, false);

      // The restarted daemon still controls the survivor.
      await api().stopContainer({ id: long.id, timeoutSeconds: 0 });
      assert.equal((await api().waitContainer({ id: long.id })).exitCode, 137);
      await until(`pid ${long.pid} to go away`, async () => (pidAlive(long.pid) ? undefined : true), 10_000);
      await removeAll(api(), [long.id, brief.id]);
      assert.deepEqual(
        (await api().listContainers({})).containers.filter((c) => c.id === long.id || c.id === brief.id),
        [],
      );
    });
  }

  it("a created container stays CREATED (same pid, runc agrees) across a SIGKILL of hulld, and starts after it", { timeout: 60_000 }, async () => {
    const c = await create(api(), s.rootfs, ["sh", "-c", "echo hello; exit 6"]);
    s.made.push(c.id);
    const inited = must((await api().initContainer({ id: c.id })).container, "init");
    assertState(inited, S.CONTAINER_STATE_CREATED);
    await s.d.kill();
    await s.d.restart();
    const after = await inspect(api(), c.id);
    assertState(after, S.CONTAINER_STATE_CREATED);
    assert.equal(after.pid, inited.pid);
    assert.equal((await runcState(s.d.runRoot, c.id))?.status, "created");
    await api().startContainer({ id: c.id });
    assert.equal((await api().waitContainer({ id: c.id })).exitCode, 6);
    await removeAll(api(), [c.id]);
  });

  it("an exited container keeps its record, exit code and config across a restart", async () => {
    const exited = await createStarted(api(), s.rootfs, ["sh", "-c", "exit 3"], { labels: { keep: "yes" } });
    s.made.push(exited.id);
    await waitExited(api(), exited.id);
    await s.d.restart();
    const info = await inspect(api(), exited.id);
    assertState(info, S.CONTAINER_STATE_EXITED);
    assert.equal(info.exitCode, 3);
    assert.deepEqual(info.config?.labels, { keep: "yes" });
    assert.equal(info.name, exited.name);
    await removeAll(api(), [exited.id]);
  });
});
