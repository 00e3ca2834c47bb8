// PullImage against a real registry: Debian's docker-registry (CNCF
// distribution 2.8) on loopback, fed by `skopeo copy` from an OCI layout
// built here (a busybox layer and a data layer). The pulled image runs a
// container that sees both layers; a blob corrupted inside the registry's
// storage fails the pull with a digest mismatch and leaves nothing behind.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, writeFile, stat } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ImageServiceClient } from "../../src/gen/hull/v1/image.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, errorInfo } from "../helpers/api.js";
import { must, uniqueName } from "../helpers/fixtures.js";
import { imageApi, listTree, makeTar, pull, writeLayout, type ImageApi, type Layout } from "../helpers/images.js";
import { startDockerRegistry, tagLayout, type DockerRegistry } from "../helpers/docker-registry.js";

const run = promisify(execFile);
const LAYOUT_TAG = "v1";
const GREETING = "hello from the data layer";

/**
 * An OCI layout in dir: layer 1 is the busybox rootfs, layer 2 a data dir
 * (a text file plus random bytes, so the layer has a size progress can count).
 * index.json names the manifest LAYOUT_TAG, as skopeo's oci: transport needs.
 */
async function buildLayout(dir: string, rootfs: string, dataBytes: number): Promise<Layout> {
  const busyboxTar = join(dir, "..", `busybox-${randomBytes(4).toString("hex")}.tar`);
  await run("tar", ["-C", rootfs, "-cf", busyboxTar, "."]);
  const dataTar = await makeTar([
    { name: "data/", type: "directory", mode: 0o755 },
    { name: "data/greeting", content: `${GREETING}\n` },
    { name: "data/noise", content: randomBytes(dataBytes / 2).toString("hex") },
  ]);
  const layout = await writeLayout(dir, [await readFile(busyboxTar), dataTar], { Cmd: ["sh"], Env: ["FROM_REGISTRY=1"] });
  await tagLayout(dir, LAYOUT_TAG);
  return layout;
}

describe("PullImage from docker-registry", () => {
  let work = "";
  let reg: DockerRegistry | undefined;
  const s = daemonSuite({ extraDirs: () => [work] });
  let imgs: ImageApi | undefined;
  let client: ImageServiceClient | undefined;
  const images = (): ImageApi => (imgs ??= imageApi(s.d.socket));
  const c = (): ImageServiceClient => (client ??= new ImageServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure()));
  const registry = (): DockerRegistry => must(reg, "docker-registry");

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hull-pull-registry-"));
    reg = await startDockerRegistry();
  });
  after(async () => {
    imgs?.close();
    client?.close();
    await reg?.close();
  });

  it("pulls a two-layer image pushed by skopeo, reports each layer's progress, and runs it", async () => {
    const layout = await buildLayout(join(work, "multi"), s.rootfs, 600_000);
    const manifestDigest = await registry().push(layout.dir, LAYOUT_TAG, "hull/multi", "v1");
    const served = await registry().manifest("hull/multi", "v1");
    assert.equal(served.json.layers.length, 2);

    const ref = `${registry().host}/hull/multi:v1`;
    const { progress, image } = await pull(c(), { reference: ref });
    // skopeo compresses layers on the way into a registry: the config (the image id) is what stays.
    assert.equal(image.id, layout.configDigest);
    assert.equal(image.digest, manifestDigest);
    assert.deepEqual(
      image.layerDigests,
      served.json.layers.map((l) => l.digest),
    );
    assert.deepEqual(image.tags, [ref]);
    assert.deepEqual(image.cmd, ["sh"]);

    for (const layer of served.json.layers) {
      const mine = progress.filter((p) => p.digest === layer.digest);
      assert.ok(mine.length >= 1, `progress for layer ${layer.digest}`);
      const last = mine[mine.length - 1];
      assert.deepEqual({ done: last.bytesDone, total: last.bytesTotal, complete: last.complete }, { done: layer.size, total: layer.size, complete: true });
      for (const [i, p] of mine.slice(0, -1).entries()) {
        assert.equal(p.complete, false, `only the last update of ${layer.digest} is complete`);
        assert.equal(p.bytesTotal, layer.size);
        assert.ok(p.bytesDone <= p.bytesTotal && (i === 0 || p.bytesDone >= mine[i - 1].bytesDone), `bytes done grow up to the total: ${JSON.stringify(mine)}`);
      }
    }
    assert.ok(
      progress.every((p) => served.json.layers.some((l) => l.digest === p.digest)),
      "progress names only layers",
    );

    // The pulled layers are the layout's: same diff ids unpacked under the store.
    for (const diffId of layout.diffIds) {
      assert.ok((await stat(join(s.d.root, "images", "layers", diffId.slice(7)))).isDirectory(), `layer ${diffId} unpacked`);
    }

    const script = [
      `test "$(cat /data/greeting)" = "${GREETING}" || exit 3`,
      "test -s /data/noise || exit 4",
      "test -x /bin/busybox || exit 5",
      'test "$FROM_REGISTRY" = 1 || exit 6',
    ].join("; ");
    const created = must(
      (await s.api.createContainer({ config: { name: uniqueName("pullreg"), image: ref, command: ["sh", "-c", script] } })).container,
      "container",
    );
    s.made.push(created.id);
    await s.api.startContainer({ id: created.id });
    assert.equal(
      (await s.api.waitContainer({ id: created.id })).exitCode,
      0,
      "the container saw files of both layers (exit 3/4: data layer, 5: busybox layer)",
    );

    // By digest: the same image, no new tag.
    const byDigest = await pull(c(), { reference: `${registry().host}/hull/multi@${manifestDigest}` });
    assert.equal(byDigest.image.id, image.id);
    assert.deepEqual(byDigest.image.tags, [ref]);
  });

  it("pulls the same layout pushed as a Docker schema 2 manifest", async () => {
    const layout = await buildLayout(join(work, "docker"), s.rootfs, 20_000);
    const manifestDigest = await registry().push(layout.dir, LAYOUT_TAG, "hull/docker", "v1", "v2s2");
    const served = await registry().manifest("hull/docker", "v1");
    assert.equal(served.json.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    const ref = `${registry().host}/hull/docker:v1`;
    const { image } = await pull(c(), { reference: ref });
    assert.equal(image.digest, manifestDigest);
    assert.deepEqual(
      image.layerDigests,
      served.json.layers.map((l) => l.digest),
    );
    assert.deepEqual(image.env, ["FROM_REGISTRY=1"]);
    const created = must(
      (await s.api.createContainer({ config: { name: uniqueName("pulldocker"), image: ref, command: ["cat", "/data/greeting"] } })).container,
      "container",
    );
    s.made.push(created.id);
    await s.api.startContainer({ id: created.id });
    assert.equal((await s.api.waitContainer({ id: created.id })).exitCode, 0);
  });

  // image-events failed on a fresh machine with "the pulled manifest digest
  // differed": an earlier failed case had left the same image imported, and
  // the pull answered with the import's manifest digest.
  it("a pull of an image already imported by another manifest answers with the manifest the registry served", async () => {
    const layout = await buildLayout(join(work, "imported-first"), s.rootfs, 20_000);
    const imported = await images().importPath(layout.dir, "example.com/hull/first:v1");
    const manifestDigest = await registry().push(layout.dir, LAYOUT_TAG, "hull/again", "v1", "v2s2");
    assert.notEqual(manifestDigest, imported.digest, "the Docker schema 2 manifest is other bytes than the layout's");
    const ref = `${registry().host}/hull/again:v1`;
    const { image } = await pull(c(), { reference: ref });
    assert.equal(image.id, imported.id, "the same config: the same image");
    assert.equal(image.digest, manifestDigest);
    assert.deepEqual([...image.tags].sort(), ["example.com/hull/first:v1", ref].sort());
    assert.equal((await images().inspect(imported.id)).digest, manifestDigest);
    await images().remove(imported.id, true);
  });

  it("fails a pull whose layer blob was corrupted in the registry with a digest mismatch, leaving nothing behind", async () => {
    // Start from an empty store so every blob this pull fetches is new.
    for (const img of await images().list()) {
      await images()
        .remove(img.id, true)
        .catch((err: unknown) => {
          if (errorInfo(err).code !== grpc.status.NOT_FOUND) throw err;
        });
    }
    const imagesDir = join(s.d.root, "images");
    assert.deepEqual(await listTree(join(imagesDir, "blobs", "sha256")), [], "no blobs before");
    assert.deepEqual(await listTree(join(imagesDir, "layers")), [], "no layers before");

    const layout = await buildLayout(join(work, "broken"), s.rootfs, 300_000);
    await registry().push(layout.dir, LAYOUT_TAG, "hull/broken", "v1");
    const served = await registry().manifest("hull/broken", "v1");
    const victim = served.json.layers[1].digest;
    const dataPath = registry().blobDataPath(victim);
    const original = await readFile(dataPath);
    const flipped = Buffer.from(original.map((b) => b ^ 0xff));
    await writeFile(dataPath, flipped);
    assert.equal((await stat(dataPath)).size, original.length);

    const ref = `${registry().host}/hull/broken:v1`;
    const before = await listTree(imagesDir);
    const e = await assertGrpcError(pull(c(), { reference: ref }), grpc.status.DATA_LOSS, "DATA_CORRUPT", `digest mismatch: expected ${victim}`);
    assert.match(e.message, /got sha256:[0-9a-f]{64}/);

    assert.deepEqual(await listTree(imagesDir), before, "nothing half-written in the store");
    assert.deepEqual(await listTree(join(imagesDir, "blobs", "sha256")), [], "no blob (whole or partial) kept");
    assert.deepEqual(await listTree(join(imagesDir, "layers")), [], "no layer dir kept");
    await assertGrpcError(images().inspect(ref), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");
    await assertGrpcError(images().inspect(layout.configDigest), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");
    assert.deepEqual(await images().list(), [], "no image record");

    // With the blob restored the same reference pulls, so the failure was the corruption.
    await writeFile(dataPath, original);
    const { image } = await pull(c(), { reference: ref });
    assert.equal(image.id, layout.configDigest);
    await images().remove(image.id, true);
  });
});
