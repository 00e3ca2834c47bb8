// Restart policies, applied by the daemon's automatic cleanup after an exit:
// on-failure[:N], always, unless-stopped, no; a user stop/kill never restarts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import type { Container, RestartPolicy } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { S, SLEEP, assertState, createStarted, inspect, must, removeAll, sleep, until, waitExited } from "../helpers/fixtures.js";

/** Waits (WaitContainer condition EXITED, re-armed after each restart) until `done` holds. */
async function settleExited(api: Api, id: string, done: (c: Container) => boolean, timeoutMs = 30_000): Promise<Container> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await waitExited(api, id);
    const c = await inspect(api, id);
    if (c.state === S.CONTAINER_STATE_EXITED && done(c)) return c;
    assert.ok(Date.now() < deadline, `container never settled: state ${c.state}, restartCount ${c.restartCount}`);
    if (c.state === S.CONTAINER_STATE_EXITED) await sleep(50);
  }
}

describe("restart policies", () => {
  const dirs: string[] = [];
  const s = daemonSuite({ extraDirs: () => dirs });
  const api = (): Api => s.d.api;
  const policy = (name: string, maxRetries = 0): { restartPolicy: RestartPolicy } => ({ restartPolicy: { name, maxRetries } });

  it("on-failure:2 restarts a failing container exactly twice, then leaves it EXITED", async () => {
    const c = await createStarted(api(), s.rootfs, ["sh", "-c", "exit 1"], policy("on-failure", 2));
    s.made.push(c.id);
    const final = await settleExited(api(), c.id, (x) => x.restartCount >= 2);
    assert.equal(final.restartCount, 2);
    assert.equal(final.exitCode, 1);
    assert.equal(final.stoppedByUser, false);
    // Still settled after a sync with the runtime.
    const synced = must((await api().syncContainer({ id: c.id })).container, "sync");
    assertState(synced, S.CONTAINER_STATE_EXITED);
    assert.equal((await inspect(api(), c.id)).restartCount, 2);
    await removeAll(api(), [c.id]);
  });

  it("on-failure does not restart a container that exits 0", async () => {
    const c = await createStarted(api(), s.rootfs, ["sh", "-c", "exit 0"], policy("on-failure", 3));
    s.made.push(c.id);
    assert.equal((await api().waitContainer({ id: c.id })).exitCode, 0);
    await waitExited(api(), c.id);
    const info = await inspect(api(), c.id);
    assertState(info, S.CONTAINER_STATE_EXITED);
    assert.equal(info.restartCount, 0);
    assert.equal(info.exitCode, 0);
    await removeAll(api(), [c.id]);
  });

  for (const name of ["no", ""]) {
    it(`policy ${JSON.stringify(name)} never restarts, even a failure`, async () => {
      const c = await createStarted(api(), s.rootfs, ["sh", "-c", "exit 1"], policy(name));
      s.made.push(c.id);
      assert.equal((await api().waitContainer({ id: c.id })).exitCode, 1);
      await waitExited(api(), c.id);
      const info = await inspect(api(), c.id);
      assertState(info, S.CONTAINER_STATE_EXITED);
      assert.equal(info.restartCount, 0);
      await removeAll(api(), [c.id]);
    });
  }

  for (const name of ["always", "unless-stopped"]) {
    it(`${name} restarts a container that exits 0, but never after a user stop`, async () => {
      // Run 1 marks /data/one and exits 0; run 2 marks /data/two and exits 0;
      // run 3 (and any later one) stays up: exactly two restarts, then RUNNING.
      const dir = await mkdtemp("/tmp/hm-");
      dirs.push(dir);
      const script = "if [ -e /data/two ]; then exec sleep 1000; fi; " + "if [ -e /data/one ]; then touch /data/two; else touch /data/one; fi; exit 0";
      const c = await createStarted(api(), s.rootfs, ["sh", "-c", script], {
        ...policy(name),
        mounts: [{ type: "bind", source: dir, destination: "/data" }],
      });
      s.made.push(c.id);
      const up = await until(`${name}: two restarts, then running`, async () => {
        const x = await inspect(api(), c.id);
        return x.state === S.CONTAINER_STATE_RUNNING && x.restartCount >= 2 ? x : undefined;
      });
      assert.equal(up.restartCount, 2);

      const stopped = must((await api().stopContainer({ id: c.id, timeoutSeconds: 0 })).container, "stop");
      assertState(stopped, [S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED]);
      assert.equal((await api().waitContainer({ id: c.id })).exitCode, 137);
      // Reaching EXITED at all means the policy did not restart it.
      await api().waitContainer({ id: c.id, condition: S.CONTAINER_STATE_EXITED }, { deadlineMs: 20_000 });
      const info = await inspect(api(), c.id);
      assertState(info, S.CONTAINER_STATE_EXITED);
      assert.equal(info.restartCount, 2);
      assert.equal(info.stoppedByUser, true);
      await removeAll(api(), [c.id]);
    });
  }

  for (const name of ["always", "on-failure", "unless-stopped"]) {
    it(`${name}: a kill by the user is never followed by a restart`, async () => {
      const c = await createStarted(api(), s.rootfs, SLEEP, policy(name));
      s.made.push(c.id);
      await api().killContainer({ id: c.id, signal: "SIGKILL" });
      assert.equal((await api().waitContainer({ id: c.id })).exitCode, 137);
      await api().waitContainer({ id: c.id, condition: S.CONTAINER_STATE_EXITED }, { deadlineMs: 20_000 });
      const info = await inspect(api(), c.id);
      assertState(info, S.CONTAINER_STATE_EXITED);
      assert.equal(info.restartCount, 0);
      assert.equal(info.stoppedByUser, true);
      await removeAll(api(), [c.id]);
    });
  }

  it("Wait on a container that keeps restarting returns each exit (never hangs)", async () => {
    const c = await createStarted(api(), s.rootfs, ["sh", "-c", "sleep 0.3; exit 3"], policy("always"));
    s.made.push(c.id);
    const first = await api().waitContainer({ id: c.id }, { deadlineMs: 20_000 });
    assert.equal(first.exitCode, 3);
    const second = await api().waitContainer({ id: c.id }, { deadlineMs: 20_000 });
    assert.equal(second.exitCode, 3);
    await until("a restart to be counted", async () => ((await inspect(api(), c.id)).restartCount >= 1 ? true : undefined));
    // Force removal works whatever state the restart loop is in.
    await removeAll(api(), [c.id]);
    assert.deepEqual((await api().listContainers({ idPrefix: c.id })).containers, []);
  });
});
