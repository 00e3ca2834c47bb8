// StateStore container records against a real LevelDB in a temp dir.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ContainerConfig, ContainerState } from "../../src/gen/hull/v1/container.js";
import { HullError } from "../../src/errors.js";
import type { ContainerRecord } from "../../src/store/record.js";
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

function record(over: Partial<ContainerRecord> = {}): ContainerRecord {
  const id = over.id ?? randomBytes(32).toString("hex");
  const name = over.name ?? `c-${id.slice(0, 10)}`;
  return {
    id,
    name,
    state: ContainerState.CONTAINER_STATE_CONFIGURED,
    config: ContainerConfig.fromPartial({
      name,
      image: "busybox:latest",
      command: ["sh", "-c", "echo hi"],
      env: ["A=1", "B=two"],
      labels: { app: "web", tier: "front" },
      annotations: { "io.hull/x": "y" },
      stopTimeoutSeconds: 5,
      restartPolicy: { name: "on-failure", maxRetries: 3 },
      mounts: [{ type: "bind", source: "/srv", destination: "/data", options: ["ro"] }],
      resources: { memoryLimitBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit: 100 },
      logMaxSizeBytes: 1_000_000,
      networkMode: "none",
      readOnlyRootfs: true,
      tty: true,
    }),
    dependencyIds: [],
    exitCode: 0,
    exitSignal: 0,
    pid: 0,
    conmonPid: 0,
    createdAt: new Date().toISOString(),
    startedAt: "",
    finishedAt: "",
    restartCount: 0,
    stoppedByUser: false,
    stateReason: "",
    oomKilled: false,
    mountCount: 0,
    rootfs: "/var/lib/hull/rootfs",
    bundlePath: "/run/hull/bundle",
    logPath: "/var/log/hull/ctr.log",
    execSessions: [{ id: "e1", command: ["ls"], running: false, exitCode: 2, pid: 42 }],
    revision: 0,
    ...over,
  };
}

function hullError(reason: string, message?: string | RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof HullError, `expected a HullError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (typeof message === "string") assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

test("a record round-trips unchanged through a reopen", async () => {
  const root = await tempRoot();
  const rec = record({ state: ContainerState.CONTAINER_STATE_RUNNING, pid: 1234, startedAt: new Date().toISOString() });
  let store = await StateStore.open(root);
  await store.createContainer(rec);
  assert.deepEqual(await store.getContainer(rec.id), rec);
  await store.close();
  store = await StateStore.open(root);
  try {
    assert.deepEqual(await store.getContainer(rec.id), rec);
    assert.equal(await store.getContainer("f".repeat(64)), undefined);
  } finally {
    await store.close();
  }
});

test("names are unique, also under concurrent creates", async () => {
  const store = await StateStore.open(await tempRoot());
  try {
    const first = record({ name: "web" });
    await store.createContainer(first);
    await assert.rejects(
      store.createContainer(record({ name: "web" })),
      hullError("NAME_IN_USE", `the container name "web" is already in use by ${first.id.slice(0, 12)}`),
    );
    await assert.rejects(store.createContainer(record({ id: first.id, name: "other" })), hullError("INTERNAL", /already exists/));

    const racers = Array.from({ length: 8 }, () => record({ name: "racy" }));
    const results = await Promise.allSettled(racers.map((r) => store.createContainer(r)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) if (r.status === "rejected") hullError("NAME_IN_USE")(r.reason);
    const winner = racers[results.findIndex((r) => r.status === "fulfilled")];
    assert.equal(await store.resolveContainer("racy"), winner.id);
    const all = await store.listContainers();
    assert.equal(all.filter((r) => r.name === "racy").length, 1);
  } finally {
    await store.close();
  }
});

test("resolve by id, name, unique prefix; ambiguous, missing and invalid refs", async () => {
  const store = await StateStore.open(await tempRoot());
  try {
    const a = record({ id: "abc1" + "0".repeat(60), name: "alpha" });
    const b = record({ id: "abc2" + "0".repeat(60), name: "beta" });
    const c = record({ id: "def0" + "0".repeat(60), name: "abc" });
    for (const r of [a, b, c]) await store.createContainer(r);

    assert.equal(await store.resolveContainer(a.id), a.id);
    assert.equal(await store.resolveContainer("beta"), b.id);
    assert.equal(await store.resolveContainer("abc1"), a.id);
    assert.equal(await store.resolveContainer("de"), c.id);
    // An exact name wins over an id prefix.
    assert.equal(await store.resolveContainer("abc"), c.id);
    await assert.rejects(store.resolveContainer("ab"), (err) => {
      hullError("AMBIGUOUS_ID", `prefix "ab" matches several containers: ${a.id.slice(0, 12)}, ${b.id.slice(0, 12)}`)(err);
      assert.deepEqual((err as HullError).metadata, { candidates: `${a.id},${b.id}` });
      return true;
    });
    await assert.rejects(store.resolveContainer("nope"), hullError("CONTAINER_NOT_FOUND", 'no container with name or id "nope" found'));
    await assert.rejects(store.resolveContainer("f".repeat(64)), hullError("CONTAINER_NOT_FOUND"));
    for (const bad of ["", "a/b", "x y", "ctr/", "é", "a".repeat(254)]) {
      await assert.rejects(store.resolveContainer(bad), (err) => {
        hullError("INVALID_ARGUMENT", /^invalid id: /)(err);
        assert.equal((err as HullError).metadata.field, "id");
        return true;
      });
    }
  } finally {
    await store.close();
  }
});

test("delete removes record and name, so the name can be reused", async () => {
  const store = await StateStore.open(await tempRoot());
  try {
    const first = record({ name: "reuse" });
    await store.createContainer(first);
    await store.deleteContainer(first.id);
    assert.equal(await store.getContainer(first.id), undefined);
    await assert.rejects(store.resolveContainer("reuse"), hullError("CONTAINER_NOT_FOUND"));
    await store.deleteContainer(first.id); // already gone: no error
    const second = record({ name: "reuse" });
    await store.createContainer(second);
    assert.equal(await store.resolveContainer("reuse"), second.id);
    await assert.rejects(store.saveContainer(first), hullError("CONTAINER_NOT_FOUND"));
  } finally {
    await store.close();
  }
});

test("saveContainer bumps the revision and persists the change", async () => {
  const root = await tempRoot();
  let store = await StateStore.open(root);
  const rec = record();
  await store.createContainer(rec);
  const s1 = await store.saveContainer({ ...rec, state: ContainerState.CONTAINER_STATE_RUNNING, pid: 99 });
  assert.equal(s1.revision, 1);
  assert.equal(rec.revision, 0, "the caller's copy is not mutated");
  const s2 = await store.saveContainer({ ...s1, exitCode: 3 });
  assert.equal(s2.revision, 2);
  // A save from a stale copy still moves the revision forward.
  const s3 = await store.saveContainer(s1);
  assert.equal(s3.revision, 3);
  await assert.rejects(store.saveContainer({ ...s3, name: "renamed" }), hullError("INTERNAL", /cannot be renamed/));
  await store.close();
  store = await StateStore.open(root);
  try {
    assert.deepEqual(await store.getContainer(rec.id), s3);
  } finally {
    await store.close();
  }
});

test("findDependents lists the containers depending on an id", async () => {
  const store = await StateStore.open(await tempRoot());
  try {
    const db = record({ name: "db" });
    const cache = record({ name: "cache" });
    const web = record({ name: "web", dependencyIds: [db.id, cache.id] });
    const worker = record({ name: "worker", dependencyIds: [db.id] });
    for (const r of [db, cache, web, worker]) await store.createContainer(r);
    assert.deepEqual((await store.findDependents(db.id)).sort(), [web.id, worker.id].sort());
    assert.deepEqual(await store.findDependents(cache.id), [web.id]);
    assert.deepEqual(await store.findDependents(web.id), []);
  } finally {
    await store.close();
  }
});

test("operations after close fail with UNAVAILABLE", async () => {
  const store = await StateStore.open(await tempRoot());
  await store.close();
  await store.close(); // idempotent
  await assert.rejects(store.getContainer("x"), hullError("UNAVAILABLE", /closed/));
});

test("10,000 records: list, resolve by prefix", async () => {
  const root = await tempRoot();
  let store = await StateStore.open(root);
  const base = Date.parse("2024-01-01T00:00:00Z");
  const recs: ContainerRecord[] = [];
  for (let i = 0; i < 10_000; i++) {
    // createdAt deliberately not in id order, to exercise the sort.
    recs.push(record({ createdAt: new Date(base + ((i * 7919) % 10_000) * 1000).toISOString() }));
  }
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i += 500) await Promise.all(recs.slice(i, i + 500).map((r) => store.createContainer(r)));
  const tCreate = performance.now() - t0;
  await store.close();
  store = await StateStore.open(root);
  try {
    const t1 = performance.now();
    const listed = await store.listContainers();
    const tList = performance.now() - t1;
    assert.equal(listed.length, 10_000);
    for (let i = 1; i < listed.length; i++) assert.ok(listed[i - 1].createdAt <= listed[i].createdAt);
    assert.deepEqual(
      listed[0],
      recs.find((r) => r.createdAt === listed[0].createdAt),
    );

    const target = recs[4321];
    const t2 = performance.now();
    for (let i = 0; i < 100; i++) assert.equal(await store.resolveContainer(target.id.slice(0, 12)), target.id);
    const tResolve = (performance.now() - t2) / 100;
    console.log(`10k records: create ${tCreate.toFixed(0)} ms, listContainers ${tList.toFixed(1)} ms, resolve(prefix) ${tResolve.toFixed(3)} ms each`);
  } finally {
    await store.close();
  }
});
