// Checkpoint / restore: the CRIU probe's verdict, the clear refusal where CRIU
// is not usable, the CRIU path where it is (a counter resumes where it
// stopped), and the archive format regardless of CRIU: a container's config
// and files written by the archive writer and restored, under a new name, by
// a fresh hulld.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, lstat, readlink, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import tar from "tar-stream";
import { probeCriu, criuReason, runtimeCheckpoint, type CriuVerdict } from "../../src/oci/criu.js";
import { HullError } from "../../src/errors.js";
import { readCheckpointManifest, writeCheckpointArchive, extractCheckpointArchive, type CheckpointManifest } from "../../src/images/checkpoint-archive.js";
import { createFromArchive } from "../../src/ops/checkpoint.js";
import { Engine, enginePaths } from "../../src/engine/engine.js";
import { StateStore } from "../../src/store/store.js";
import { RuntimeCli } from "../../src/oci/runtime-cli.js";
import { ConmonRuntime } from "../../src/oci/conmon-runtime.js";
import { ImageStore } from "../../src/images/image-store.js";
import { NO_REGISTRIES } from "../../src/images/registries-conf.js";
import { noPodEnvironment } from "../helpers/fake-pods.js";
import { ExitWatcher } from "../../src/oci/exits.js";
import { readHostLimits } from "../../src/oci/hostinfo.js";
import { ContainerConfig, type Container } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { assertGrpcError } from "../helpers/api.js";
import { S, SLEEP, assertState, createStarted, inspect, must, removeAll, uniqueName, until, waitExited } from "../helpers/fixtures.js";

const INVALID = grpc.status.INVALID_ARGUMENT;
const FP = grpc.status.FAILED_PRECONDITION;
const COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 0.1; done"] as const;
// Writes one of each kind of file on its first run, then stays up.
const WRITER = [
  "sh",
  "-c",
  "[ -f /data/marker ] || { mkdir -m 700 /data && echo hello > /data/marker && ln /data/marker /data/hard && ln -s marker /data/soft " +
    "&& mkfifo /data/fifo && echo x > /data/owned && chown 65534:65534 /data/owned && chmod 4750 /data/owned && touch /data/done; }; exec sleep 1000",
] as const;

let verdict: CriuVerdict | undefined;
async function criu(): Promise<CriuVerdict> {
  verdict ??= await probeCriu();
  return verdict;
}

interface TreeEntry {
  path: string;
  kind: string;
  mode: number;
  uid: number;
  gid: number;
  detail: string;
}

/** Every entry under dir, with what a faithful copy must keep (hard links as "same inode as <first path>"). */
async function tree(dir: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = join(dir, rel);
    const st = await lstat(abs);
    const base = { path: rel === "" ? "." : rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      out.push({ ...base, kind: "dir", detail: "" });
      for (const child of (await readdir(abs)).sort()) await walk(rel === "" ? child : `${rel}/${child}`);
      return;
    }
    if (!st.isSymbolicLink() && st.nlink > 1) {
      const first = inodes.get(st.ino);
      if (first !== undefined) {
        out.push({ ...base, kind: "hardlink", detail: first });
        return;
      }
      inodes.set(st.ino, base.path);
    }
    if (st.isSymbolicLink()) out.push({ ...base, mode: 0, kind: "symlink", detail: await readlink(abs) });
    else if (st.isFIFO()) out.push({ ...base, kind: "fifo", detail: "" });
    else if (st.isFile()) {
      const digest = createHash("sha256")
        .update(await readFile(abs))
        .digest("hex");
      out.push({ ...base, kind: "file", detail: `${st.size} ${digest} ${Math.floor(st.mtimeMs / 1000)}` });
    } else out.push({ ...base, kind: "other", detail: String(st.rdev) });
  };
  await walk("");
  return out;
}

function manifestFor(c: Container): CheckpointManifest {
  return {
    version: 1,
    id: c.id,
    name: c.name,
    restartCount: c.restartCount,
    config: must(c.config, "config"),
    hasCriuImage: false,
    rootfs: "none",
    createdAt: new Date().toISOString(),
    runtime: "runc",
  };
}

describe("criu probe", () => {
  it("reports its verdict", async (t) => {
    const v = await criu();
    const line = v.ok ? `CRIU ${v.version} at ${v.binary} works: checkpoint tests run` : `CRIU not usable: ${v.reason}`;
    t.diagnostic(line);
    console.log(`# ${line}`);
    if (!v.ok) assert.ok(v.reason.length > 0 && v.reason.length < 800, "a failed probe names a short reason");
  });

  it("condenses criu's output to its distinct error messages", () => {
    const out = criuReason(
      "Error (criu/util.c:642): exited, status=1\nError (criu/util.c:642): exited, status=1\n" +
        "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\nError (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed\n",
    );
    assert.equal(out, "vdso: Unexpected rt vDSO area bounds; kerndat_vdso_fill_symtable failed");
  });
});

describe("checkpoint archive format", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hull-ckpt-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads back a gzipped archive's manifest and refuses entries that escape", async () => {
    const src = await buildBusyboxRootfs(join(dir, "src"));
    const target = join(dir, "a.tar.gz");
    const manifest: CheckpointManifest = {
      version: 1,
      id: "a".repeat(64),
      name: "gz",
      restartCount: 2,
      hasCriuImage: false,
      rootfs: "none",
      createdAt: "",
      runtime: "runc",
      config: ContainerConfig.fromPartial({ name: "gz", rootfsPath: src, command: ["true"] }),
    };
    await writeCheckpointArchive({ target, manifest, rootfsDir: src });
    assert.deepEqual([...(await readFile(target)).subarray(0, 2)], [0x1f, 0x8b], "written gzipped");
    const back = await readCheckpointManifest(target);
    assert.equal(back.name, "gz");
    assert.equal(back.restartCount, 2);
    assert.equal(back.rootfs, "full");
    assert.deepEqual(back.config.command, ["true"]);
    await extractCheckpointArchive(target, { rootfsDir: join(dir, "copy") });
    assert.deepEqual(await tree(join(dir, "copy")), await tree(src));

    // A hand-made archive with a ".." entry: refused, nothing written outside.
    const evil = tar.pack();
    const body = Buffer.from(JSON.stringify({ version: 1, id: "x", name: "x", config: { command: ["true"] } }));
    evil.entry({ name: "hull-checkpoint.json", size: body.length }, body);
    evil.entry({ name: "rootfs/../../escaped", size: 1 }, "x");
    evil.finalize();
    const chunks: Buffer[] = [];
    for await (const c of evil) chunks.push(c as Buffer);
    await writeFile(join(dir, "evil.tar"), Buffer.concat(chunks));
    await assert.rejects(extractCheckpointArchive(join(dir, "evil.tar"), { rootfsDir: join(dir, "evil") }), /contains "\.\."/);
    await assert.rejects(lstat(join(dir, "escaped")));
    await assert.rejects(readCheckpointManifest(join(dir, "missing.tar")), /cannot read/);
  });
});

describe("checkpoint and restore RPCs", () => {
  const extra: string[] = [];
  let fresh: TestDaemon | undefined;
  // Registered first so it runs first: the fresh hulld's dirs are among `extra`.
  after(async () => {
    await fresh?.cleanup();
  });
  const s = daemonSuite({ extraDirs: () => extra });

  it("validates requests before anything else", async () => {
    const api = s.api;
    await assertGrpcError(api.checkpointContainer({ id: "" }), INVALID, "INVALID_ARGUMENT", "id");
    await assertGrpcError(api.checkpointContainer({ id: "x", targetFile: "rel/a.tar" }), INVALID, "INVALID_ARGUMENT", "target_file");
    await assertGrpcError(api.checkpointContainer({ id: "x", targetFile: "/nonexistent-dir/a.tar" }), INVALID, "INVALID_ARGUMENT", "target_file");
    await assertGrpcError(api.checkpointContainer({ id: "x", targetFile: "/tmp" }), INVALID, "INVALID_ARGUMENT", "is a directory");
    await assertGrpcError(api.restoreContainer({}), INVALID, "INVALID_ARGUMENT", "target_file");
    await assertGrpcError(api.restoreContainer({ targetFile: "a.tar" }), INVALID, "INVALID_ARGUMENT", "target_file");
    await assertGrpcError(api.restoreContainer({ id: "x", name: "new" }), INVALID, "INVALID_ARGUMENT", "name");
    await assertGrpcError(api.restoreContainer({ targetFile: "/tmp/a.tar", name: "bad name!" }), INVALID, "INVALID_ARGUMENT", "name");
    await assertGrpcError(api.restoreContainer({ id: "x", targetFile: "/tmp/a.tar" }), INVALID, "INVALID_ARGUMENT", "id");
  });

  it("refuses with CHECKPOINT_UNSUPPORTED naming the probe's reason where CRIU is not usable", async (t) => {
    const v = await criu();
    if (v.ok) {
      t.skip("CRIU works on this host: the refusal cannot be seen here");
      return;
    }
    const c = await createStarted(s.api, s.rootfs, SLEEP);
    s.made.push(c.id);
    const target = join(tmpdir(), `hull-ckpt-${process.pid}.tar`);
    const e = await assertGrpcError(s.api.checkpointContainer({ id: c.id, targetFile: target }), FP, "CHECKPOINT_UNSUPPORTED", v.reason);
    t.diagnostic(`checkpoint refused: ${e.message}`);
    assertState(await inspect(s.api, c.id), S.CONTAINER_STATE_RUNNING, "the container is untouched");
    await assert.rejects(lstat(target), "no archive written");
    await assertGrpcError(s.api.restoreContainer({ targetFile: target, name: uniqueName("r") }), FP, "CHECKPOINT_UNSUPPORTED", v.reason);
    await assertGrpcError(s.api.restoreContainer({ id: c.id }), FP, "CHECKPOINT_UNSUPPORTED", v.reason);
  });

  it("surfaces the runtime's own error when runc checkpoint fails (where CRIU is not usable)", async (t) => {
    const v = await criu();
    if (v.ok) {
      t.skip("CRIU works on this host: runc checkpoint does not fail here");
      return;
    }
    const c = await createStarted(s.api, s.rootfs, SLEEP);
    s.made.push(c.id);
    const work = await mkdtemp(join(tmpdir(), "hull-ckpt-"));
    extra.push(work);
    const runtime = new RuntimeCli({ binary: "runc", root: join(s.d.runRoot, "runc") });
    const err = await runtimeCheckpoint(runtime, c.id, { imagePath: work, workPath: work, leaveRunning: false, tcpEstablished: true }).then(
      () => assert.fail("runc checkpoint succeeded although criu check failed"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof HullError && err.reason === "RUNTIME_ERROR", String(err));
    assert.ok(err.message.startsWith(`runc checkpoint ${c.id}:`) && err.message.includes("dump.log"), err.message);
    t.diagnostic(`runc checkpoint failed as the probe predicted: ${err.message}`);
    assertState(await inspect(s.api, c.id), S.CONTAINER_STATE_RUNNING);
  });

  it("writes a container's config and files and restores them under a new name on a fresh hulld", async () => {
    const rootfs = await buildBusyboxRootfs();
    extra.push(rootfs);
    const c = await createStarted(s.api, rootfs, WRITER, {
      labels: { app: "ckpt" },
      env: ["A=1"],
      workingDir: "/root",
      restartPolicy: { name: "on-failure", maxRetries: 3 },
    });
    s.made.push(c.id);
    await until("the files to be written", async () => ((await lstat(join(rootfs, "data/done")).catch(() => undefined)) ? true : undefined));
    await s.api.stopContainer({ id: c.id, timeoutSeconds: 0 });
    await waitExited(s.api, c.id);
    const original = await inspect(s.api, c.id);

    const work = await mkdtemp(join(tmpdir(), "hull-ckpt-"));
    extra.push(work);
    const target = join(work, "c.tar");
    await writeCheckpointArchive({ target, manifest: manifestFor(original), rootfsDir: original.rootfs });

    // A fresh hulld's state root, filled the way RestoreContainer does, by this process.
    const root = join(work, "root");
    const runRoot = join(work, "run");
    const store = await StateStore.open(root);
    const newName = uniqueName("restored");
    try {
      const paths = enginePaths(root, runRoot);
      const log = pino({ level: "silent" });
      const engine = new Engine({
        store,
        runtime: new ConmonRuntime({ cli: new RuntimeCli({ binary: "runc", root: paths.runtimeRoot }), socketDir: paths.socketDir, ownDirs: [root, runRoot] }),
        exits: new ExitWatcher(paths.exitDir),
        images: await ImageStore.open(root, store, log),
        registries: NO_REGISTRIES,
        pods: noPodEnvironment(),
        paths,
        hostLimits: await readHostLimits(),
        log,
      });
      const manifest = await readCheckpointManifest(target);
      await createFromArchive(engine, target, manifest, newName, { criu: false, ignoreRootfs: false });
    } finally {
      await store.close();
    }
    fresh = await startTestDaemon({ root, runRoot });
    const restored = await inspect(fresh.api, newName);
    assert.notEqual(restored.id, original.id, "a new name gets a new id");
    assert.deepEqual(restored.config, { ...original.config, name: newName }, "same config, new name");
    assert.equal(restored.rootfs, join(root, "containers", restored.id, "rootfs"), "the rootfs is laid down in the container's dir");
    assert.deepEqual(await tree(restored.rootfs), await tree(original.rootfs), "same files, modes, owners, links");

    const started = must((await fresh.api.startContainer({ id: restored.id })).container, "start");
    assertState(started, S.CONTAINER_STATE_RUNNING);
    const r = await fresh.api.execSync({ id: restored.id, command: ["sh", "-c", "cat /data/hard /data/soft; stat -c '%a %u' /data/owned; echo $A"] });
    assert.equal(r.exitCode, 0, Buffer.from(r.stderr).toString());
    assert.equal(Buffer.from(r.stdout).toString(), "hello\nhello\n4750 65534\n1\n");
    await removeAll(fresh.api, [restored.id]);
    // The files go right after the answer (engine/teardowns.ts): wait for them.
    await until("removal deletes the restored rootfs", () =>
      lstat(restored.rootfs).then(
        () => undefined,
        () => true,
      ),
    );
  });

  it("checkpoints a counter and restores it on a fresh hulld where it resumes", async (t) => {
    const v = await criu();
    if (!v.ok) {
      t.diagnostic(`skipped: ${v.reason}`);
      t.skip(`CRIU is not usable here: ${v.reason}`);
      return;
    }
    const rootfs = await buildBusyboxRootfs();
    extra.push(rootfs);
    const c = await createStarted(s.api, rootfs, COUNTER);
    s.made.push(c.id);
    const counter = (dir: string): Promise<number | undefined> =>
      readFile(join(dir, "tmp/c"), "utf8").then(
        (x) => (x.trim() === "" ? undefined : Number(x)),
        () => undefined,
      );
    await until("the counter to pass 5", async () => ((await counter(rootfs)) ?? 0) > 5 || undefined);
    const work = await mkdtemp(join(tmpdir(), "hull-ckpt-"));
    extra.push(work);
    const target = join(work, "counter.tar.gz");
    const after = must((await s.api.checkpointContainer({ id: c.id, targetFile: target })).container, "checkpoint");
    assertState(after, S.CONTAINER_STATE_EXITED);
    const stoppedAt = must(await counter(rootfs), "counter");

    fresh ??= await startTestDaemon();
    const name = uniqueName("resumed");
    const restored = must((await fresh.api.restoreContainer({ targetFile: target, name })).container, "restore");
    assertState(restored, S.CONTAINER_STATE_RUNNING);
    const seen: number[] = [];
    await until("the restored counter to move on", async () => {
      const n = await counter(restored.rootfs);
      if (n !== undefined) seen.push(n);
      return n !== undefined && n > stoppedAt + 3 ? true : undefined;
    });
    assert.ok(
      seen.every((n) => n >= stoppedAt),
      `the counter resumed from ${stoppedAt}, not from 1: ${seen.join(",")}`,
    );
    await removeAll(fresh.api, [restored.id]);
  });
});
