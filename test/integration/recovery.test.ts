// Recovery at hulld start: orphans (runtime containers, conmons, mounts,
// dirs with no record) are removed; a record whose runtime container
// vanished gets a reason instead of hanging; a stop cut short by a SIGKILL of
// hulld is finished; write-ahead intents left by a crash are repaired.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { StateStore } from "../../src/store/store.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, errorInfo, type Api } from "../helpers/api.js";
import { importRootfsImage } from "../helpers/images.js";
import { pidAlive } from "../helpers/daemon.js";
import { conmonsUnder, mountsUnder, runc, runcContainer, runcList, runcState } from "../helpers/host-view.js";
import { IGNORE_TERM, S, SLEEP, assertState, create, createStarted, inspect, must, removeAll, uniqueName, until, waitExited } from "../helpers/fixtures.js";

const hexId = (): string => randomBytes(32).toString("hex");

describe("recovery at hulld start", () => {
  let work: string | undefined;
  const s = daemonSuite({ extraDirs: () => (work ? [work] : []) });
  const api = (): Api => s.d.api;
  const dirs = (): string[] => [s.d.root, s.d.runRoot];
  const bundle = (id: string): string => join(s.d.runRoot, "bundles", id);
  const containerDir = (id: string): string => join(s.d.root, "containers", id);

  /** Runs fn on the store while hulld is down (it holds the LevelDB lock while up). */
  async function withStore(fn: (store: StateStore) => Promise<void>): Promise<void> {
    const store = await StateStore.open(s.d.root);
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  }

  /** The warn/info lines the latest hulld printed since `from` (pino JSON). */
  function logSince(from: number): string {
    return s.d.output().slice(from);
  }

  it("removes a runtime container, conmon, overlay mount and dirs that have no record", { timeout: 120_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), "hull-recov-"));
    await importRootfsImage(s.d.socket, s.rootfs, work, "recov");
    // A full container of hulld's own (conmon, bundle, overlay) whose record then goes.
    const full = must((await api().createContainer({ config: { name: uniqueName("orphan"), image: "recov", command: [...SLEEP] } })).container, "container");
    s.made.push(full.id);
    await api().startContainer({ id: full.id });
    assert.ok((await mountsUnder([containerDir(full.id)])).length > 0, "the image container's overlay is mounted");
    await s.d.stop();
    await withStore((store) => store.deleteContainer(full.id));
    // One made with runc alone, straight under hulld's runtime root, and a create cut before its record.
    const bare = hexId();
    await runcContainer(s.d.runRoot, bundle(bare), bare, s.rootfs, ["sleep", "1000"], true);
    const cutCreate = hexId();
    await mkdir(containerDir(cutCreate), { recursive: true });
    await writeFile(join(containerDir(cutCreate), "ctr.log"), "");
    const before = await runcList(s.d.runRoot);
    assert.ok(before.has(full.id) && before.has(bare), "both orphans exist in runc before the restart");
    assert.ok(
      (await conmonsUnder(dirs())).some((c) => c.containerId === full.id),
      "the orphan's conmon runs before the restart",
    );

    const from = s.d.output().length;
    await s.d.restart();
    const after = await runcList(s.d.runRoot);
    for (const id of [full.id, bare]) {
      assert.equal(after.has(id), false, `runc container ${id.slice(0, 12)} is gone`);
      assert.equal(existsSync(bundle(id)), false, `bundle of ${id.slice(0, 12)} is gone`);
      assert.ok(logSince(from).includes(id), `hulld names orphan ${id.slice(0, 12)} in its log`);
    }
    assert.deepEqual(
      (await conmonsUnder(dirs())).filter((c) => c.containerId === full.id || c.containerId === bare),
      [],
    );
    assert.deepEqual(await mountsUnder([containerDir(full.id)]), []);
    for (const id of [full.id, cutCreate]) assert.equal(existsSync(containerDir(id)), false, `container dir of ${id.slice(0, 12)} is gone`);
    assert.match(logSince(from), /"level":40[^\n]*no record of/, "orphans are reported at warn");
  });

  it("marks a container whose runtime container was deleted behind hulld's back, instead of hanging", { timeout: 60_000 }, async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    await s.d.stop();
    // Its monitor first, so no exit file is ever written; then the runtime container.
    for (const m of await conmonsUnder(dirs())) if (m.containerId === c.id) process.kill(m.pid, "SIGKILL");
    await until("the conmon to go", async () => ((await conmonsUnder(dirs())).some((m) => m.containerId === c.id) ? undefined : true));
    await runc(s.d.runRoot, "delete", "--force", c.id);
    await rm(join(s.d.runRoot, "exits", c.id), { force: true });
    await s.d.restart();
    const w = await api().waitContainer({ id: c.id }, { deadlineMs: 20_000 });
    assert.equal(w.exitCode, -1);
    await waitExited(api(), c.id);
    const info = await inspect(api(), c.id);
    assertState(info, S.CONTAINER_STATE_EXITED);
    assert.equal(info.exitCode, -1);
    assert.match(info.stateReason, /vanished while hulld was down/);
    // And it can run again.
    assertState(must((await api().startContainer({ id: c.id })).container, "start"), S.CONTAINER_STATE_RUNNING);
    await removeAll(api(), [c.id]);
  });

  it("keeps the runtime's word for running vs paused (a pause whose save was lost)", { timeout: 60_000 }, async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    await s.d.kill();
    await runc(s.d.runRoot, "pause", c.id);
    await s.d.restart();
    const info = await inspect(api(), c.id);
    assertState(info, S.CONTAINER_STATE_PAUSED);
    assert.equal(info.pid, c.pid);
    await api().unpauseContainer({ id: c.id });
    assert.equal((await runcState(s.d.runRoot, c.id))?.status, "running");
    await removeAll(api(), [c.id]);
  });

  for (const variant of ["with time left", "after its deadline passed"] as const) {
    it(`finishes a stop cut short by a SIGKILL of hulld (${variant})`, { timeout: 90_000 }, async () => {
      const c = await createStarted(api(), s.rootfs, IGNORE_TERM);
      s.made.push(c.id);
      const timeoutSeconds = variant === "with time left" ? 8 : 1;
      const stop = api()
        .stopContainer({ id: c.id, timeoutSeconds }, { deadlineMs: 60_000 })
        .catch((err: unknown) => errorInfo(err));
      await until("STOPPING", async () => ((await inspect(api(), c.id)).state === S.CONTAINER_STATE_STOPPING ? true : undefined));
      await s.d.kill();
      const cut = await stop;
      assert.ok(!("container" in cut), "the stop call dies with hulld");
      if (variant === "after its deadline passed") await new Promise((r) => setTimeout(r, 1500));
      assert.ok(pidAlive(c.pid), "the container ignored SIGTERM and still runs");
      const from = s.d.output().length;
      await s.d.restart();
      const w = await api().waitContainer({ id: c.id }, { deadlineMs: 30_000 });
      assert.equal(w.exitCode, 137, "killed by SIGKILL once the stop's deadline came");
      await waitExited(api(), c.id);
      const info = await inspect(api(), c.id);
      assertState(info, S.CONTAINER_STATE_EXITED);
      assert.equal(info.stoppedByUser, true);
      assert.equal(pidAlive(c.pid), false);
      const said = variant === "with time left" ? "continuing a stop cut short" : "killing a container whose stop timed out";
      assert.ok(logSince(from).includes(said), `hulld says "${said}"`);
      await removeAll(api(), [c.id]);
    });
  }

  it("repairs an init cut short: the half-made runtime container goes, the container can start", { timeout: 60_000 }, async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    await s.d.kill();
    // What a crash between the intent and the CREATED save leaves: an intent and a created runtime container.
    await runcContainer(s.d.runRoot, bundle(c.id), c.id, s.rootfs, ["sleep", "1000"], false);
    assert.equal((await runcState(s.d.runRoot, c.id))?.status, "created");
    await withStore((store) => store.setIntent(c.id, { op: "init", startedAt: new Date().toISOString() }));
    const from = s.d.output().length;
    await s.d.restart();
    assert.equal(await runcState(s.d.runRoot, c.id), undefined, "the half-made runtime container is deleted");
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_CONFIGURED);
    assert.ok(logSince(from).includes("half-made runtime container"), "hulld reports the repair");
    const started = must((await api().startContainer({ id: c.id })).container, "start");
    assertState(started, S.CONTAINER_STATE_RUNNING);
    await s.d.stop();
    await withStore(async (store) => assert.equal(store.getIntent(c.id), undefined, "the CREATED save cleared the intent"));
    await s.d.restart();
    await removeAll(api(), [c.id]);
  });

  it("finishes a removal cut short (record left REMOVING with its intent)", { timeout: 60_000 }, async () => {
    const c = await createStarted(api(), s.rootfs, ["sh", "-c", "exit 0"]);
    s.made.push(c.id);
    await waitExited(api(), c.id);
    await s.d.stop();
    await withStore(async (store) => {
      const rec = must(await store.getContainer(c.id), "record");
      await store.saveContainer({ ...rec, state: S.CONTAINER_STATE_REMOVING }, { intent: { op: "remove", startedAt: new Date().toISOString() } });
    });
    assert.ok(existsSync(containerDir(c.id)));
    await s.d.restart();
    await assertGrpcError(api().inspectContainer({ id: c.id }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    assert.equal(existsSync(containerDir(c.id)), false, "its dir is gone");
    assert.equal(existsSync(bundle(c.id)), false, "its bundle is gone");
    // Its name is free again.
    const again = await create(api(), s.rootfs, SLEEP, { name: c.name });
    s.made.push(again.id);
    await removeAll(api(), [again.id]);
    await s.d.stop();
    await withStore(async (store) => assert.equal(store.listIntents().size, 0, "no intent is left behind"));
    await s.d.restart();
  });

  it("a stop whose container lost its conmon (killed behind hulld's back) ends with -1 and the reason, not a hang", { timeout: 60_000 }, async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    assert.ok(c.conmonPid > 0 && pidAlive(c.conmonPid));
    process.kill(c.conmonPid, "SIGKILL");
    await until("conmon gone", async () => (pidAlive(c.conmonPid) ? undefined : true), 10_000);
    // PID 1 `sleep` ignores SIGTERM: the stop escalates to SIGKILL, and no exit file ever comes.
    const stopped = must((await api().stopContainer({ id: c.id, timeoutSeconds: 1 })).container, "stop");
    assert.notEqual(stopped.state, S.CONTAINER_STATE_STOPPING);
    await waitExited(api(), c.id);
    const after = await inspect(api(), c.id);
    assertState(after, S.CONTAINER_STATE_EXITED);
    assert.equal(after.exitCode, -1);
    assert.match(after.stateReason, /monitor \(conmon\) was gone/);
    assert.equal(await runcState(s.d.runRoot, c.id), undefined, "cleanup deleted the runtime container");
    await removeAll(api(), [c.id]);
  });
});
