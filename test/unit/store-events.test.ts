// StateStore event history, schema version and the single-process guard.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Level } from "level";
import { ContainerState, Event } from "../../src/gen/hull/v1/container.js";
import { HullError } from "../../src/errors.js";
import { StateStore } from "../../src/store/store.js";

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "hull-store-"));
  roots.push(root);
  return root;
}

function event(type: string, time: Date, containerId = "a".repeat(64)): Event {
  return Event.fromPartial({
    type,
    time,
    containerId,
    containerName: "web",
    attributes: { exitCode: "0" },
    state: ContainerState.CONTAINER_STATE_RUNNING,
  });
}

const T0 = Date.parse("2024-05-01T12:00:00Z");
const at = (s: number): Date => new Date(T0 + s * 1000);

test("events get increasing sequences, are bounded, and continue after reopen", async () => {
  const root = await tempRoot();
  let store = await StateStore.open(root, { maxEvents: 5 });
  const first = await store.appendEvent(event("create", at(0)));
  assert.equal(first.sequence, 1);
  assert.deepEqual(first, { ...event("create", at(0)), sequence: 1 });
  for (let i = 1; i < 8; i++) await store.appendEvent(event(`e${i}`, at(i)));
  let evs = await store.readEvents();
  assert.deepEqual(
    evs.map((e) => e.sequence),
    [4, 5, 6, 7, 8],
  );
  assert.deepEqual(evs[0], { ...event("e3", at(3)), sequence: 4 });
  await store.close();

  store = await StateStore.open(root, { maxEvents: 5 });
  const next = await store.appendEvent(event("after-reopen", at(8)));
  assert.equal(next.sequence, 9);
  assert.deepEqual(
    (await store.readEvents()).map((e) => e.sequence),
    [5, 6, 7, 8, 9],
  );
  await store.close();

  // A smaller bound after a restart trims the whole excess on the next append.
  store = await StateStore.open(root, { maxEvents: 2 });
  try {
    assert.equal((await store.appendEvent(event("small", at(9)))).sequence, 10);
    evs = await store.readEvents();
    assert.deepEqual(
      evs.map((e) => e.sequence),
      [9, 10],
    );
  } finally {
    await store.close();
  }
});

test("concurrent appends get distinct, gapless sequences", async () => {
  const store = await StateStore.open(await tempRoot());
  try {
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => store.appendEvent(event("x", at(i)))));
    assert.deepEqual(
      got.map((e) => e.sequence).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const evs = await store.readEvents();
    assert.deepEqual(
      evs.map((e) => e.sequence),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  } finally {
    await store.close();
  }
});

test("readEvents filters by since/until (inclusive) and fills a missing time", async () => {
  const store = await StateStore.open(await tempRoot());
  try {
    for (let i = 0; i < 10; i++) await store.appendEvent(event(`e${i}`, at(i)));
    const types = async (opts: { since?: Date; until?: Date }): Promise<string[]> => (await store.readEvents(opts)).map((e) => e.type);
    assert.deepEqual(await types({ since: at(7) }), ["e7", "e8", "e9"]);
    assert.deepEqual(await types({ until: at(2) }), ["e0", "e1", "e2"]);
    assert.deepEqual(await types({ since: at(3), until: at(5) }), ["e3", "e4", "e5"]);
    assert.deepEqual(await types({ since: at(20) }), []);
    await assert.rejects(store.readEvents({ since: new Date(NaN) }), (err) => err instanceof HullError && err.reason === "INVALID_ARGUMENT");

    const before = Date.now();
    const untimed = await store.appendEvent(Event.fromPartial({ type: "sync" }));
    assert.ok(untimed.time && untimed.time.getTime() >= before);
    assert.deepEqual(await types({ since: new Date(before) }), ["sync"]);
  } finally {
    await store.close();
  }
});

test("a newer schema version on disk is refused", async () => {
  const root = await tempRoot();
  await (await StateStore.open(root)).close();
  const raw = new Level<string, unknown>(join(root, "state.db"), { valueEncoding: "json" });
  await raw.put("meta/schema", 2);
  await raw.close();
  await assert.rejects(StateStore.open(root), (err) => {
    assert.ok(err instanceof HullError);
    assert.equal(err.reason, "INTERNAL");
    assert.match(err.message, /schema version 2, newer than the version 1/);
    return true;
  });
  // The failed open released the LOCK.
  const again = new Level<string, unknown>(join(root, "state.db"), { valueEncoding: "json" });
  await again.open();
  await again.close();
});

test("a second hulld on the same state root is refused with a clear error", async () => {
  const root = await tempRoot();
  const storeModule = new URL("../../src/store/store.js", import.meta.url).href;
  const script = `
    const { StateStore } = await import(${JSON.stringify(storeModule)});
    const store = await StateStore.open(process.argv[1]);
    process.stdout.write("ready\\n");
    process.stdin.resume();
    process.stdin.on("end", async () => { await store.close(); process.exit(0); });
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, root], { stdio: ["pipe", "pipe", "inherit"] });
  try {
    const [chunk] = (await once(child.stdout, "data")) as [Buffer];
    assert.equal(chunk.toString().trim(), "ready");
    const expected = `state root ${root} is in use by another hulld (LevelDB lock held)`;
    await assert.rejects(StateStore.open(root), (err) => {
      assert.ok(err instanceof HullError);
      assert.equal(err.reason, "UNAVAILABLE");
      assert.equal(err.message, expected);
      return true;
    });
  } finally {
    child.stdin.end();
    if (child.exitCode === null) await once(child, "exit");
  }
  assert.equal(child.exitCode, 0);
  // Once the other process is gone the root opens normally.
  const store = await StateStore.open(root);
  await store.close();
});

test("a second open within one process is refused the same way", async () => {
  const root = await tempRoot();
  const store = await StateStore.open(root);
  try {
    await assert.rejects(StateStore.open(root), (err) => err instanceof HullError && err.reason === "UNAVAILABLE" && /LevelDB lock held/.test(err.message));
  } finally {
    await store.close();
  }
});
