// The image store against a real hulld: an OCI layout built here and a
// busybox rootfs tarball are imported; containers run from the image on
// overlay root filesystems that share its layers; removal frees them.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { runHull } from "../helpers/cli.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { cp, mkdtemp, readFile, readdir, stat, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, rejection } from "../helpers/api.js";
import { must, removeAll, uniqueName } from "../helpers/fixtures.js";
import { imageApi, makeTar, sha256, writeLayout, type ImageApi } from "../helpers/images.js";

const run = promisify(execFile);

const hull = runHull;

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.sort();
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

describe("images", () => {
  let work = "";
  const s = daemonSuite({ extraDirs: () => [work] });
  let imgs: ImageApi | undefined;
  const images = (): ImageApi => (imgs ??= imageApi(s.d.socket));
  after(() => imgs?.close());

  it("imports an OCI layout by path, lists and inspects it, and refuses a corrupted blob leaving nothing behind", async () => {
    work = await mkdtemp(join(tmpdir(), "hull-img-"));
    const layer1 = await makeTar([
      { name: "etc/", type: "directory", mode: 0o755 },
      { name: "etc/hello", content: "one\n", mode: 0o640, uid: 1000, gid: 1000 },
      { name: "etc/gone", content: "bye\n" },
      { name: "etc/link", type: "symlink", linkname: "hello" },
      { name: "etc/hard", type: "link", linkname: "etc/hello" },
    ]);
    const layer2 = await makeTar([{ name: "etc/two", content: "two\n" }, { name: "etc/.wh.gone" }]);
    const layout = await writeLayout(join(work, "layout"), [layer1, layer2], { Cmd: ["/bin/sh"], Env: ["A=1"], WorkingDir: "/etc", Labels: { x: "y" } });

    const img = await images().importPath(layout.dir, "example.com/test/layered:v1");
    assert.equal(img.id, layout.configDigest);
    assert.equal(img.digest, layout.manifestDigest);
    assert.deepEqual(img.tags, ["example.com/test/layered:v1"]);
    assert.deepEqual(img.layerDigests, layout.layerDigests);
    assert.deepEqual(img.cmd, ["/bin/sh"]);
    assert.equal(img.workingDir, "/etc");
    assert.deepEqual(img.labels, { x: "y" });

    assert.deepEqual(
      (await images().list("layered")).map((i) => i.id),
      [img.id],
    );
    assert.deepEqual(await images().list("nothing-like-this"), []);
    assert.equal((await images().inspect("example.com/test/layered:v1")).id, img.id);
    assert.equal((await images().inspect(img.id.slice(7, 19))).id, img.id, "by id prefix");
    assert.equal((await images().inspect(img.id)).id, img.id, "by full id");
    await assertGrpcError(images().inspect("no/such:image"), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");
    await assertGrpcError(images().importPath(layout.dir, "Bad Ref"), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "reference");

    // The layers were unpacked once each, with modes, owners, links and whiteouts.
    const l1 = join(s.d.root, "images", "layers", layout.diffIds[0].slice(7));
    const l2 = join(s.d.root, "images", "layers", layout.diffIds[1].slice(7));
    const hello = await stat(join(l1, "etc/hello"));
    assert.equal(hello.mode & 0o7777, 0o640);
    assert.equal(hello.uid, 1000);
    assert.equal(hello.nlink, 2, "etc/hard is a hard link of etc/hello");
    assert.equal(await readFile(join(l1, "etc/link"), "utf8"), "one\n");
    const wh = await stat(join(l2, "etc/gone"));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, "the OCI whiteout became an overlay whiteout");

    // A corrupted layer blob (same size, one byte changed).
    const bad = join(work, "bad");
    await cp(layout.dir, bad, { recursive: true });
    const corruptLayer = await makeTar([{ name: "etc/three", content: "three\n" }]);
    const badLayout = await writeLayout(bad, [corruptLayer], {});
    const blobPath = join(bad, "blobs", "sha256", badLayout.layerDigests[0].slice(7));
    const bytes = await readFile(blobPath);
    bytes[600] ^= 0xff;
    await writeFile(blobPath, bytes);
    const before = await listTree(join(s.d.root, "images"));
    const e = await rejection(images().importPath(bad, "bad:1"));
    assert.equal(e.code, grpc.status.DATA_LOSS, e.message);
    assert.match(e.message, new RegExp(`digest mismatch: expected ${badLayout.layerDigests[0]}, got ${sha256(bytes)}`));
    assert.deepEqual(await listTree(join(s.d.root, "images")), before, "nothing half-written in the store");
    await assertGrpcError(images().inspect("bad:1"), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");

    const removed = await images().remove("example.com/test/layered:v1");
    assert.equal(removed.id, img.id);
    assert.deepEqual([...removed.removedLayers].sort(), [...layout.diffIds].sort());
    assert.equal(await exists(l1), false);
  });

  it("runs containers from a streamed rootfs tarball on overlays that share the image's layers", async () => {
    const tarball = join(work, "busybox.tar");
    await run("tar", ["-C", s.rootfs, "-cf", tarball, "."]);
    const img = await images().importStream(await readFile(tarball), "busybox");
    assert.deepEqual(img.tags, ["busybox:latest"]);
    assert.equal(img.layerDigests.length, 1);
    assert.deepEqual(img.cmd, [], "podman import sets no command");

    const api = s.api;
    const create = async (command: string[]): Promise<string> => {
      const c = must((await api.createContainer({ config: { name: uniqueName("img"), image: "busybox", command } })).container, "container");
      s.made.push(c.id);
      return c.id;
    };
    await assertGrpcError(api.createContainer({ config: { image: "no-such-image", command: ["true"] } }), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");

    const hi = await create(["sh", "-c", "echo hi"]);
    await api.startContainer({ id: hi });
    assert.equal((await api.waitContainer({ id: hi })).exitCode, 0);

    const one = await create(["sh", "-c", "echo mine > /tmp/only-in-one; sleep 1000"]);
    const two = await create(["sh", "-c", "sleep 1000"]);
    await api.startContainer({ id: one });
    await api.startContainer({ id: two });
    const upperFile = join(s.d.root, "containers", one, "overlay", "upper", "tmp", "only-in-one");
    const deadline = Date.now() + 20_000;
    while (!(await exists(upperFile)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await readFile(upperFile, "utf8"), "mine\n");
    const check = await api.execSync({ id: two, command: ["sh", "-c", "test ! -e /tmp/only-in-one"], timeoutSeconds: 20 });
    assert.equal(check.exitCode, 0, "the file written in one container is absent from the other");
    const layerDir = join(s.d.root, "images", "layers");
    const layers = await readdir(layerDir);
    assert.equal(layers.length, 1, `one shared layer dir, got ${layers.join(", ")}`);
    assert.equal(await exists(join(layerDir, layers[0], "tmp", "only-in-one")), false, "the layer is untouched");

    // Both overlays are mounted with the same (shared) lower dir.
    const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
    const lowers = [one, two].map((id) => {
      const line = must(
        mountinfo.split("\n").find((l) => l.includes(join(s.d.root, "containers", id, "overlay", "merged"))),
        `overlay of ${id}`,
      );
      return must(/lowerdir=([^,]+)/.exec(line), "lowerdir")[1];
    });
    assert.equal(lowers[0], lowers[1]);
    assert.equal(lowers[0], join(layerDir, layers[0]));

    await assertGrpcError(images().remove("busybox"), grpc.status.FAILED_PRECONDITION, "CONTAINER_HAS_DEPENDENTS", one.slice(0, 12));
    await removeAll(api, [hi, one, two]);
    assert.equal(mountinfo.includes(join(s.d.root, "containers", one)), true);
    assert.equal((await readFile("/proc/self/mountinfo", "utf8")).includes(join(s.d.root, "containers", one)), false, "overlay unmounted on remove");
    const removed = await images().remove("busybox");
    assert.deepEqual(removed.removedLayers, [`sha256:${layers[0]}`]);
    assert.deepEqual(await readdir(layerDir), []);
    assert.deepEqual(await images().list(), []);
  });

  it("hull image import (path and stdin), ls, inspect and rm", async () => {
    const layoutDir = join(work, "layout");
    const byPath = await hull(s.d.socket, ["image", "import", "--ref", "cli/layered:1", layoutDir]);
    assert.equal(byPath.code, 0, byPath.stderr);
    const id = byPath.stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const layoutTar = join(work, "layout.tar");
    await run("tar", ["-C", layoutDir, "-cf", layoutTar, "."]);
    const byStdin = await hull(s.d.socket, ["image", "import", "--ref", "cli/fromtar", "-"], layoutTar);
    assert.equal(byStdin.code, 0, byStdin.stderr);
    assert.equal(byStdin.stdout.trim(), id, "the same layout gives the same image id");

    const ls = await hull(s.d.socket, ["image", "ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID/);
    assert.match(ls.stdout, new RegExp(`cli/layered\\s+1\\s+${id.slice(7, 19)}`));
    assert.match(ls.stdout, /cli\/fromtar\s+latest/);
    const inspected = await hull(s.d.socket, ["image", "inspect", "cli/fromtar"]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const json = JSON.parse(inspected.stdout) as { id: string; tags: string[] }[];
    assert.equal(json[0].id, id);
    assert.deepEqual([...json[0].tags].sort(), ["cli/fromtar:latest", "cli/layered:1"]);
    const missing = await hull(s.d.socket, ["image", "rm", "no/such"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /not found/);
    const untag = await hull(s.d.socket, ["image", "rm", "cli/fromtar"]);
    assert.equal(untag.code, 0, untag.stderr);
    assert.deepEqual((await images().inspect(id)).tags, ["cli/layered:1"], "removing one of two tags only untags");
    const rmOut = await hull(s.d.socket, ["image", "rm", id.slice(7, 19)]);
    assert.equal(rmOut.code, 0, rmOut.stderr);
    assert.match(rmOut.stdout, new RegExp(`Deleted: ${id}`));
    assert.deepEqual(await images().list(), []);
  });

  it("keeps images across a hulld restart, and a forced removal takes its containers with it", async () => {
    const tarball = join(work, "busybox.tar");
    const img = await images().importStream(await readFile(tarball), "localhost:5000/busybox:2");
    await s.d.restart();
    assert.deepEqual((await images().inspect("localhost:5000/busybox:2")).layerDigests, img.layerDigests);
    const c = must((await s.api.createContainer({ config: { image: img.id.slice(7, 19), command: ["sh", "-c", "exit 3"] } })).container, "container");
    s.made.push(c.id);
    await s.api.startContainer({ id: c.id });
    assert.equal((await s.api.waitContainer({ id: c.id })).exitCode, 3);
    const viaCli = await hull(s.d.socket, ["run", "localhost:5000/busybox:2", "sh", "-c", "echo from-cli"]);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    assert.equal(viaCli.stdout, "from-cli\n", "hull run IMAGE CMD");
    const removed = await images().remove("localhost:5000/busybox:2", true);
    assert.equal(removed.id, img.id);
    assert.equal(removed.removedLayers.length, 1);
    await assertGrpcError(s.api.inspectContainer({ id: c.id }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    assert.deepEqual(await readdir(join(s.d.root, "images", "layers")), []);
  });
});
