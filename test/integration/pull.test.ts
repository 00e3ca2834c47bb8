// PullImage against a registry started here (test/helpers/registry.ts): an
// index (linux/arm64 + linux/amd64) over a two-layer image whose first layer
// is a gzipped busybox rootfs, behind a bearer-token flow. The pulled image
// runs a container; a corrupted blob leaves nothing behind; bad credentials
// are UNAUTHENTICATED; `hull image pull` prints progress.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { runHull } from "../helpers/cli.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ImageServiceClient } from "../../src/gen/hull/v1/image.js";
import { parseChallenge } from "../../src/images/registry.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError } from "../helpers/api.js";
import { must, uniqueName } from "../helpers/fixtures.js";
import { imageApi, listTree, makeTar, pull, sha256, type ImageApi } from "../helpers/images.js";
import { publishImage, startRegistry, type TestRegistry } from "../helpers/registry.js";

const run = promisify(execFile);

const hull = runHull;

describe("registry challenges (unit)", () => {
  it("parses bearer and basic challenges", () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'), {
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a/b:pull" },
    });
    assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: "basic", params: { realm: "x" } });
  });
});

describe("PullImage", () => {
  let work = "";
  let reg: TestRegistry | undefined;
  const s = daemonSuite({ extraDirs: () => [work] });
  let imgs: ImageApi | undefined;
  let client: ImageServiceClient | undefined;
  const images = (): ImageApi => (imgs ??= imageApi(s.d.socket));
  const c = (): ImageServiceClient => (client ??= new ImageServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure()));
  after(async () => {
    imgs?.close();
    client?.close();
    await reg?.close();
  });

  let busybox: { blob: Buffer; diffId: string } | undefined;

  it("pulls an index's linux/amd64 image with a bearer token, reports progress per layer, and runs it", async () => {
    work = await mkdtemp(join(tmpdir(), "hull-pull-"));
    reg = await startRegistry("alice", "s3cret");
    const tarball = join(work, "busybox.tar");
    await run("tar", ["-C", s.rootfs, "-cf", tarball, "."]);
    const raw = await readFile(tarball);
    busybox = { blob: gzipSync(raw), diffId: sha256(raw) };
    const extraTar = await makeTar([
      { name: "etc/", type: "directory", mode: 0o755 },
      { name: "etc/pulled", content: "yes\n" },
    ]);
    const extra = { blob: gzipSync(extraTar), diffId: sha256(extraTar) };
    const pub = publishImage(reg, "test/busybox", "v1", [busybox, extra]);

    const ref = `${reg.host}/test/busybox:v1`;
    const { progress, image } = await pull(c(), { reference: ref, username: "alice", password: "s3cret" });
    assert.equal(image.id, pub.configDigest);
    assert.equal(image.digest, pub.manifestDigest);
    assert.deepEqual(image.layerDigests, pub.layerDigests);
    assert.deepEqual(image.tags, [ref]);
    assert.deepEqual(image.cmd, ["sh"]);
    for (const [i, d] of pub.layerDigests.entries()) {
      const mine = progress.filter((p) => p.digest === d);
      assert.ok(mine.length >= 1, `progress for layer ${d}`);
      const last = mine[mine.length - 1];
      assert.equal(last.complete, true);
      assert.equal(last.bytesDone, [busybox, extra][i].blob.length);
      assert.equal(last.bytesTotal, [busybox, extra][i].blob.length);
      assert.ok(mine.slice(0, -1).every((p) => !p.complete && p.bytesDone <= p.bytesTotal));
    }
    assert.ok(reg.requests.includes("/token"), "the token endpoint was used");
    assert.ok(
      reg.requests.some((r) => r.startsWith("/storage/")),
      "blob redirects were followed",
    );
    assert.deepEqual(
      (await images().list("test/busybox")).map((i) => i.id),
      [image.id],
    );

    const created = must(
      (
        await s.api.createContainer({
          config: { name: uniqueName("pull"), image: ref, command: ["sh", "-c", 'test "$(cat /etc/pulled)" = yes && test "$PULLED" = 1 && echo hi'] },
        })
      ).container,
      "container",
    );
    s.made.push(created.id);
    await s.api.startContainer({ id: created.id });
    assert.equal((await s.api.waitContainer({ id: created.id })).exitCode, 0);
  });

  it("refuses wrong or missing credentials with UNAUTHENTICATED REGISTRY_AUTH_FAILED", async () => {
    const r = must(reg, "registry");
    const ref = `${r.host}/test/busybox:v1`;
    await assertGrpcError(
      pull(c(), { reference: ref, username: "alice", password: "wrong" }),
      grpc.status.UNAUTHENTICATED,
      "REGISTRY_AUTH_FAILED",
      "refused the credentials",
    );
    await assertGrpcError(pull(c(), { reference: ref }), grpc.status.UNAUTHENTICATED, "REGISTRY_AUTH_FAILED");
  });

  it("answers a Basic challenge with the request's credentials", async () => {
    const basic = await startRegistry("bob", "pw", "basic");
    try {
      const pub = publishImage(basic, "test/basic", "v1", [must(busybox, "busybox layer")]);
      const ref = `${basic.host}/test/basic:v1`;
      const { image } = await pull(c(), { reference: ref, username: "bob", password: "pw" });
      assert.equal(image.id, pub.configDigest);
      assert.ok(!basic.requests.includes("/token"));
      await assertGrpcError(pull(c(), { reference: ref, username: "bob", password: "no" }), grpc.status.UNAUTHENTICATED, "REGISTRY_AUTH_FAILED", "denied");
      await assertGrpcError(pull(c(), { reference: ref }), grpc.status.UNAUTHENTICATED, "REGISTRY_AUTH_FAILED", "credentials required");
    } finally {
      await basic.close();
    }
  });

  it("refuses a corrupted blob (digest mismatch) leaving no new blob or layer behind", async () => {
    const r = must(reg, "registry");
    const otherTar = await makeTar([{ name: "other", content: "x".repeat(10_000) }]);
    const other = { blob: gzipSync(otherTar), diffId: sha256(otherTar) };
    const pub = publishImage(r, "test/broken", "v1", [must(busybox, "busybox layer"), other]);
    r.corrupt.add(pub.layerDigests[1]);
    const before = await listTree(join(s.d.root, "images"));
    await assertGrpcError(
      pull(c(), { reference: `${r.host}/test/broken:v1`, username: "alice", password: "s3cret" }),
      grpc.status.DATA_LOSS,
      "DATA_CORRUPT",
      `digest mismatch: expected ${pub.layerDigests[1]}`,
    );
    assert.deepEqual(await listTree(join(s.d.root, "images")), before, "nothing half-written in the store");
    await assertGrpcError(images().inspect(`${r.host}/test/broken:v1`), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");
  });

  it("answers INVALID_ARGUMENT for a reference that is none, PERMISSION_DENIED for a blocked registry and NOT_FOUND for an unknown tag", async () => {
    const r = must(reg, "registry");
    await assertGrpcError(pull(c(), { reference: "Busybox:latest" }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "lowercase");
    // A short name is docker.io's (the kubelet's normalisation), which the test daemon's registries config blocks.
    await assertGrpcError(pull(c(), { reference: "busybox:latest" }), grpc.status.PERMISSION_DENIED, "REGISTRY_BLOCKED", "docker.io");
    await assertGrpcError(
      pull(c(), { reference: `${r.host}/test/busybox:nope`, username: "alice", password: "s3cret" }),
      grpc.status.NOT_FOUND,
      "IMAGE_NOT_FOUND",
    );
  });

  it("hull image pull prints progress lines and the image id", async () => {
    const r = must(reg, "registry");
    const res = await hull(s.d.socket, ["image", "pull", "--insecure", "--creds", "alice:s3cret", `${r.host}/test/busybox:v1`]);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split("\n");
    assert.ok(lines.filter((l) => / complete /.test(l)).length >= 2, res.stdout);
    assert.match(lines[lines.length - 1], /^sha256:[0-9a-f]{64}$/);
    const bad = await hull(s.d.socket, ["image", "pull", "--insecure", "--creds", "alice:nope", `${r.host}/test/busybox:v1`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /refused the credentials/);
  });
});
