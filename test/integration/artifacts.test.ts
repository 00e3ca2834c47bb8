// Artifacts against a real hulld: round trip, replace, list, delete, the name
// and size refusals (with nothing written outside the container's artifact
// dir), the count cap, files hull did not put there, every state but
// removing, and removal with the container.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, type Api } from "../helpers/api.js";
import { S, SLEEP, type ContainerState, assertState, create, createStarted, inspect, must, removeAll, waitExited } from "../helpers/fixtures.js";
import { StateStore } from "../../src/store/store.js";
import { MAX_ARTIFACTS_PER_CONTAINER, MAX_ARTIFACT_BYTES, validateArtifactData, validateArtifactName } from "../../src/images/artifacts.js";
import { HullError } from "../../src/errors.js";

const INVALID = grpc.status.INVALID_ARGUMENT;
const execFileP = promisify(execFile);

/** Every path under dir (relative), with type, size and mtime: a before/after fingerprint. */
async function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      if (skip(r)) continue;
      const st = await lstat(join(dir, r));
      out.push(`${r} ${st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "f"} ${st.isDirectory() ? "" : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk("");
  return out;
}

describe("artifact validation (pure)", () => {
  const refusedFor = (fn: () => void): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof HullError && err.reason === "INVALID_ARGUMENT", String(err));
      return err.metadata.field ?? "";
    }
    assert.fail("expected a refusal");
  };

  it("accepts plain file names up to 255 UTF-8 bytes and refuses the rest, naming the field", () => {
    for (const ok of ["a", "...", ".x", "a b", "a".repeat(255), `${"é".repeat(127)}a`, "\\", "日本"]) validateArtifactName(ok);
    for (const bad of ["", ".", "..", "/", "a/b", "../x", "a\0", "a".repeat(256), "é".repeat(128), "a".repeat(300)]) {
      assert.equal(
        refusedFor(() => validateArtifactName(bad)),
        "name",
        JSON.stringify(bad.slice(0, 10)),
      );
    }
  });

  it("accepts data up to the limit", () => {
    validateArtifactData(Buffer.alloc(MAX_ARTIFACT_BYTES));
    assert.equal(
      refusedFor(() => validateArtifactData(Buffer.alloc(MAX_ARTIFACT_BYTES + 1))),
      "data",
    );
  });
});

describe("artifacts", () => {
  const s = daemonSuite();
  const api = (): Api => s.d.api;
  const ctrDir = (id: string): string => join(s.d.root, "containers", id);
  const artDir = (id: string): string => join(ctrDir(id), "artifacts");

  it("puts, gets, replaces, lists and deletes artifacts; a missing one is NOT_FOUND", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;
    assert.deepEqual((await api().listArtifacts({ id })).artifacts, [], "a new container has no artifacts");

    const t0 = Date.now();
    const put = must((await api().putArtifact({ id, name: "hello.txt", data: Buffer.from("hello\n") })).artifact, "put artifact");
    assert.equal(put.name, "hello.txt");
    assert.equal(put.sizeBytes, 6);
    const mtime = must(put.modifiedAt, "modifiedAt").getTime();
    assert.ok(Math.abs(mtime - t0) < 60_000, `modifiedAt ${mtime} should be about now (${t0})`);
    assert.equal(await readFile(join(artDir(id), "hello.txt"), "utf8"), "hello\n", "stored in the container's artifact dir");

    const got = await api().getArtifact({ id: c.name, name: "hello.txt" });
    assert.equal(got.data.toString("utf8"), "hello\n", "get by container name");
    assert.deepEqual(got.artifact, put);

    // Replace: the new bytes, and no temp file left beside the artifact.
    const bin = Buffer.from([0, 1, 2, 255, 254, 0, 10]);
    assert.equal(must((await api().putArtifact({ id, name: "hello.txt", data: bin })).artifact, "replace").sizeBytes, bin.length);
    assert.deepEqual((await api().getArtifact({ id, name: "hello.txt" })).data, bin);
    assert.deepEqual(await readdir(artDir(id)), ["hello.txt"]);

    // Names that look odd but are plain file names.
    const odd = ["...", ".hidden", "a\\b", "x..", "with space", "é-ü", "a".repeat(255), `${"é".repeat(127)}a`, "Z", "b"];
    for (const name of odd) await api().putArtifact({ id, name, data: Buffer.from(name) });
    await api().putArtifact({ id, name: "empty", data: Buffer.alloc(0) });
    const listed = (await api().listArtifacts({ id })).artifacts;
    const expected = [...odd, "hello.txt", "empty"].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(
      listed.map((a) => a.name),
      expected,
      "sorted by name (UTF-8 byte order)",
    );
    for (const a of listed) {
      const size = a.name === "hello.txt" ? bin.length : a.name === "empty" ? 0 : Buffer.byteLength(a.name);
      assert.equal(a.sizeBytes, size, `size of ${a.name}`);
      assert.ok(a.modifiedAt instanceof Date, `modifiedAt of ${a.name}`);
    }
    assert.deepEqual((await readdir(artDir(id))).sort(), [...expected].sort(), "one file per artifact, nothing else");
    assert.equal((await api().getArtifact({ id, name: "empty" })).data.length, 0);

    await api().deleteArtifact({ id, name: "hello.txt" });
    assert.ok(!(await readdir(artDir(id))).includes("hello.txt"), "the file is gone");
    assert.ok(!(await api().listArtifacts({ id })).artifacts.some((a) => a.name === "hello.txt"));
    await assertGrpcError(api().getArtifact({ id, name: "hello.txt" }), grpc.status.NOT_FOUND, "ARTIFACT_NOT_FOUND", ["hello.txt", id.slice(0, 12)]);
    await assertGrpcError(api().deleteArtifact({ id, name: "hello.txt" }), grpc.status.NOT_FOUND, "ARTIFACT_NOT_FOUND", "hello.txt");
    await assertGrpcError(api().getArtifact({ id, name: "never" }), grpc.status.NOT_FOUND, "ARTIFACT_NOT_FOUND", "never");
    await assertGrpcError(api().listArtifacts({ id: "no-such-container" }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    await assertGrpcError(api().putArtifact({ id: "", name: "x", data: Buffer.from("x") }), INVALID, "INVALID_ARGUMENT", "id");
  });

  it("refuses names that could leave the artifact dir, writing nothing anywhere", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;
    await api().putArtifact({ id, name: "keep", data: Buffer.from("keep") });
    // The store's own files change on their own; everything else under the
    // state root, and the temp dir around it, must not.
    const skipStore = (rel: string): boolean => rel === "state.db" || rel.startsWith("state.db/");
    const base = join(s.d.root, "..");
    const beforeRoot = await snapshot(s.d.root, skipStore);
    const beforeBase = await readdir(base);
    const bad = ["../x", "../../x", "../../../x", "a/b", "/etc/x", ".", "..", "", "a".repeat(300), "é".repeat(128), "a".repeat(256), "a\0b", "\0"];
    for (const name of bad) {
      const field = { reason: "INVALID_ARGUMENT", field: "name" };
      for (const call of [api().putArtifact({ id, name, data: Buffer.from("evil") }), api().getArtifact({ id, name }), api().deleteArtifact({ id, name })]) {
        const e = await assertGrpcError(call, INVALID, field.reason);
        assert.equal(e.metadata.field, field.field, `name ${JSON.stringify(name.slice(0, 20))}: the error names the field (${e.message})`);
      }
    }
    assert.deepEqual(await snapshot(s.d.root, skipStore), beforeRoot, "nothing under the state root changed");
    assert.deepEqual(await readdir(base), beforeBase, "nothing beside the state root changed");
    assert.deepEqual(
      (await api().listArtifacts({ id })).artifacts.map((a) => a.name),
      ["keep"],
    );
  });

  it("refuses oversize data and a container's artifact beyond the cap", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;
    const e = await assertGrpcError(api().putArtifact({ id, name: "big", data: Buffer.alloc(MAX_ARTIFACT_BYTES + 1, 7) }), INVALID, "INVALID_ARGUMENT", [
      "data",
      String(MAX_ARTIFACT_BYTES),
    ]);
    assert.equal(e.metadata.field, "data");
    assert.deepEqual((await api().listArtifacts({ id })).artifacts, [], "nothing stored");
    const max = Buffer.alloc(MAX_ARTIFACT_BYTES, 9);
    assert.equal(must((await api().putArtifact({ id, name: "big", data: max })).artifact, "1 MiB").sizeBytes, MAX_ARTIFACT_BYTES);
    assert.deepEqual((await api().getArtifact({ id, name: "big" })).data, max, "exactly the limit round-trips");

    for (let i = 1; i < MAX_ARTIFACTS_PER_CONTAINER; i++) await api().putArtifact({ id, name: `n${i}`, data: Buffer.from(String(i)) });
    assert.equal((await api().listArtifacts({ id })).artifacts.length, MAX_ARTIFACTS_PER_CONTAINER);
    await assertGrpcError(
      api().putArtifact({ id, name: "one-too-many", data: Buffer.from("x") }),
      grpc.status.RESOURCE_EXHAUSTED,
      "RESOURCE_EXHAUSTED",
      String(MAX_ARTIFACTS_PER_CONTAINER),
    );
    // Replacing an existing one is no new artifact; after a delete there is room.
    await api().putArtifact({ id, name: "n1", data: Buffer.from("again") });
    await api().deleteArtifact({ id, name: "n2" });
    await api().putArtifact({ id, name: "one-too-many", data: Buffer.from("x") });
    assert.equal((await api().listArtifacts({ id })).artifacts.length, MAX_ARTIFACTS_PER_CONTAINER);
  });

  it("never follows or replaces files hull did not put there", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;
    const outside = await mkdtemp("/tmp/hull-art-out-");
    try {
      const secret = join(outside, "secret");
      await writeFile(secret, "secret");
      await api().putArtifact({ id, name: "real", data: Buffer.from("real") });
      await symlink(secret, join(artDir(id), "link"));
      await mkdir(join(artDir(id), "sub"));
      await execFileP("mkfifo", [join(artDir(id), "fifo")]);
      for (const name of ["link", "sub", "fifo"]) {
        await assertGrpcError(api().putArtifact({ id, name, data: Buffer.from("evil") }), INVALID, "INVALID_ARGUMENT", [name, "not a regular file"]);
        await assertGrpcError(api().getArtifact({ id, name }), INVALID, "INVALID_ARGUMENT", "not a regular file");
        await assertGrpcError(api().deleteArtifact({ id, name }), INVALID, "INVALID_ARGUMENT", "not a regular file");
      }
      assert.equal(await readFile(secret, "utf8"), "secret", "the symlink's target is untouched");
      assert.ok((await lstat(join(artDir(id), "link"))).isSymbolicLink(), "the symlink itself is left alone");
      assert.deepEqual(
        (await api().listArtifacts({ id })).artifacts.map((a) => a.name),
        ["real"],
        "only regular files are listed",
      );

      // The artifact dir itself replaced by a symlink to elsewhere: refused, nothing written there.
      await rm(artDir(id), { recursive: true });
      await symlink(outside, artDir(id));
      await assertGrpcError(api().putArtifact({ id, name: "x", data: Buffer.from("evil") }), grpc.status.INTERNAL, "INTERNAL", "symlink");
      await assertGrpcError(api().listArtifacts({ id }), grpc.status.INTERNAL, "INTERNAL", "symlink");
      await assertGrpcError(api().getArtifact({ id, name: "secret" }), grpc.status.INTERNAL, "INTERNAL", "symlink");
      assert.deepEqual(await readdir(outside), ["secret"], "nothing written through the symlink");
      await rm(artDir(id));
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("works in every state but removing, and goes with the container", { timeout: 120_000 }, async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const id = c.id;
    const roundTrip = async (name: string): Promise<void> => {
      await api().putArtifact({ id, name, data: Buffer.from(name) });
      assert.equal((await api().getArtifact({ id, name })).data.toString(), name);
    };
    await roundTrip("running");
    assertState(must((await api().pauseContainer({ id })).container, "pause"), S.CONTAINER_STATE_PAUSED);
    await roundTrip("paused");
    await api().unpauseContainer({ id });
    await api().stopContainer({ id, timeoutSeconds: 0 });
    await waitExited(api(), id);
    assertState(await inspect(api(), id), S.CONTAINER_STATE_EXITED);
    await roundTrip("exited");
    assertState(must((await api().initContainer({ id })).container, "init"), S.CONTAINER_STATE_CREATED);
    await roundTrip("created");
    assert.deepEqual(
      (await api().listArtifacts({ id })).artifacts.map((a) => a.name),
      ["created", "exited", "paused", "running"],
    );

    // The container's files outlive a restart of hulld.
    await api().stopContainer({ id, timeoutSeconds: 0 });
    await waitExited(api(), id);
    await s.d.stop();
    const setState = async (state: ContainerState): Promise<void> => {
      const store = await StateStore.open(s.d.root);
      try {
        const rec = must(await store.getContainer(id), "record");
        await store.saveContainer({ ...rec, state });
      } finally {
        await store.close();
      }
    };
    await s.d.restart();
    assert.equal((await api().listArtifacts({ id })).artifacts.length, 4, "still there after the restart");
    assert.ok((await stat(artDir(id))).isDirectory());

    // A removal cut by a crash leaves REMOVING behind: the next start finishes
    // it, artifacts and all.
    await s.d.stop();
    await setState(S.CONTAINER_STATE_REMOVING);
    await s.d.restart();
    await assert.rejects(lstat(ctrDir(id)), { code: "ENOENT" }, "the container dir, artifacts and all, is gone");
    await assertGrpcError(api().listArtifacts({ id }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    await removeAll(api(), [id]);
  });
});
