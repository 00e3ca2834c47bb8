// runtime.v1.ImageService against a real registry (Debian's docker-registry
// on loopback) reached only through hulld's --registries-conf, as the
// critest kit and air-gapped clusters reach theirs: registry.k8s.io rewritten
// to the local registry, gcr.io through mirrors (the first one dead), and
// docker.io for short names. Images are pushed by skopeo as Docker schema 2
// and wrapped in a manifest list, the shape of upstream multi-arch images.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ImageServiceClient, type Image, type ImageStatusResponse, type PullImageResponse } from "../../src/gen/runtime/v1/api.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { errorInfo } from "../helpers/api.js";
import { must } from "../helpers/fixtures.js";
import { imageApi, sha256, writeLayout } from "../helpers/images.js";
import { startDockerRegistry, tagLayout, type DockerRegistry } from "../helpers/docker-registry.js";
import { publishImage, startRegistry, type TestRegistry } from "../helpers/registry.js";

const run = promisify(execFile);

function unary<Res>(call: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    call((err, res) => (err ? reject(err) : resolve(res)));
  });
}

const spec = (image: string): { image: string; annotations: Record<string, string>; userSpecifiedImage: string; runtimeHandler: string } => ({
  image,
  annotations: {},
  userSpecifiedImage: "",
  runtimeHandler: "",
});

describe("CRI ImageService through registry mirrors", () => {
  let work = "";
  let reg: DockerRegistry | undefined;
  let authReg: TestRegistry | undefined;
  let d: TestDaemon | undefined;
  let client: ImageServiceClient | undefined;
  const pushed = new Map<string, { config: string; manifest: string; list?: string }>();
  const c = (): ImageServiceClient => must(client, "CRI image client");

  const pullCri = (image: string, auth?: { username?: string; password?: string; auth?: string }): Promise<PullImageResponse> =>
    unary<PullImageResponse>((cb) =>
      c().pullImage(
        {
          image: spec(image),
          auth: auth && { username: "", password: "", auth: "", serverAddress: "", identityToken: "", registryToken: "", ...auth },
        },
        new grpc.Metadata(),
        { deadline: new Date(Date.now() + 120_000) },
        cb,
      ),
    );
  const status = (image: string): Promise<ImageStatusResponse> =>
    unary<ImageStatusResponse>((cb) => c().imageStatus({ image: spec(image), verbose: false }, cb));
  const removeCri = (image: string): Promise<unknown> => unary((cb) => c().removeImage({ image: spec(image) }, cb));
  const list = async (filter?: string): Promise<Image[]> =>
    (await unary<{ images: Image[] }>((cb) => c().listImages(filter === undefined ? {} : { filter: { image: spec(filter) } }, cb))).images;

  /** Pushes the busybox rootfs with config USER user as name:tag; with asList, wrapped in a manifest list. */
  async function push(rootfs: string, name: string, tag: string, user: string, asList: boolean): Promise<void> {
    const dir = join(work, `${name.replaceAll("/", "_")}-${tag}`);
    const tarball = join(work, "busybox.tar");
    await run("tar", ["-C", rootfs, "-cf", tarball, "."]);
    const layout = await writeLayout(dir, [await readFile(tarball)], { Cmd: ["sh"], User: user, Env: [`IMAGE=${name}`] });
    await tagLayout(dir, "t");
    const manifest = await must(reg, "registry").push(dir, "t", name, tag, "v2s2");
    const listDigest = asList ? await must(reg, "registry").wrapInList(name, tag) : undefined;
    pushed.set(`${name}:${tag}`, { config: layout.configDigest, manifest, list: listDigest });
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hull-cri-images-"));
    const rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    reg = await startDockerRegistry();
    authReg = await startRegistry("kube", "let-me-in", "basic");
    await push(rootfs, "e2e-test-images/busybox", "1.29-2", "1002", true);
    await push(rootfs, "k8s-staging-cri-tools/test-image-user-username-group", "latest", "www-data:1004", false);
    await push(rootfs, "library/busybox", "latest", "", true);
    const raw = await readFile(join(work, "busybox.tar"));
    publishImage(authReg, "private/app", "v1", [{ blob: gzipSync(raw), diffId: sha256(raw) }]);
    const conf = join(work, "registries.conf");
    await writeFile(
      conf,
      [
        `[[registry]]`,
        `prefix = "registry.k8s.io"`,
        `location = "${reg.host}"`,
        `insecure = true`,
        ``,
        // Nothing listens on port 9: the pull must go on from the mirror to the location (never gcr.io itself: no traffic leaves loopback).
        `[[registry]]`,
        `prefix = "gcr.io"`,
        `location = "${reg.host}"`,
        `insecure = true`,
        `[[registry.mirror]]`,
        `location = "127.0.0.1:9"`,
        `insecure = true`,
        ``,
        `[[registry]]`,
        `prefix = "docker.io"`,
        `location = "${reg.host}"`,
        `insecure = true`,
        ``,
        `[[registry]]`,
        `prefix = "private.example"`,
        `location = "${authReg.host}"`,
        `insecure = true`,
        ``,
      ].join("\n"),
    );
    d = await startTestDaemon({ env: { HULL_REGISTRIES_CONF: conf } });
    client = new ImageServiceClient(`unix:${d.socket}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await d?.cleanup();
    await reg?.close();
    await authReg?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("pulls registry.k8s.io through the rewrite and keeps the original names, the list digest as RepoDigest", async () => {
    const ref = "registry.k8s.io/e2e-test-images/busybox:1.29-2";
    const p = must(pushed.get("e2e-test-images/busybox:1.29-2"), "pushed");
    const res = await pullCri(ref);
    assert.equal(res.imageRef, p.config);
    const st = must((await status(ref)).image, "status");
    assert.equal(st.id, p.config);
    assert.deepEqual(st.repoTags, [ref]);
    assert.deepEqual(st.repoDigests, [`registry.k8s.io/e2e-test-images/busybox@${must(p.list, "list digest")}`]);
    assert.ok(st.size > 0n, `size ${st.size}`);
    assert.deepEqual(st.uid, { value: 1002n });
    assert.equal(st.username, "");
    // critest's "image status should support all kinds of references": the same status by id, tag, digest and id prefix.
    for (const by of [st.id, st.id.slice(7), st.id.slice(7, 19), ...st.repoTags, ...st.repoDigests]) {
      assert.deepEqual((await status(by)).image, st, by);
    }
    const listed = await list();
    assert.deepEqual(
      listed.find((i) => i.id === st.id),
      st,
    );
    assert.deepEqual(await list(ref), [st]);
    assert.deepEqual(await list("registry.k8s.io/nothing:here"), []);
  });

  it("pulls gcr.io from its location after its mirror is unreachable; a user:group image has a username", async () => {
    const ref = "gcr.io/k8s-staging-cri-tools/test-image-user-username-group";
    const res = await pullCri(ref);
    assert.equal(res.imageRef, must(pushed.get("k8s-staging-cri-tools/test-image-user-username-group:latest"), "pushed").config);
    const st = must((await status(ref)).image, "status");
    assert.deepEqual(st.repoTags, [`${ref}:latest`]);
    assert.equal(st.username, "www-data");
    assert.equal(st.uid, undefined);
  });

  it("normalises short names the kubelet's way: busybox is docker.io/library/busybox:latest, for the CRI and hull.v1", async () => {
    const p = must(pushed.get("library/busybox:latest"), "pushed");
    await pullCri("busybox");
    const st = must((await status("busybox")).image, "status");
    assert.deepEqual(st.repoTags, ["docker.io/library/busybox:latest"]);
    assert.deepEqual(st.repoDigests, [`docker.io/library/busybox@${must(p.list, "list digest")}`]);
    for (const by of ["busybox:latest", "library/busybox", "docker.io/library/busybox:latest", "index.docker.io/library/busybox"]) {
      assert.equal((await status(by)).image?.id, st.id, by);
    }
    // By the platform manifest's digest: the same image, one more RepoDigest.
    await pullCri(`busybox@${p.manifest}`);
    const again = must((await status("busybox")).image, "status");
    assert.equal(again.id, st.id);
    assert.deepEqual(again.repoDigests.sort(), [`docker.io/library/busybox@${must(p.list, "list")}`, `docker.io/library/busybox@${p.manifest}`].sort());
    const hull = imageApi(must(d, "daemon").socket);
    try {
      const inspected = await hull.inspect("busybox");
      assert.equal(inspected.id, st.id);
      assert.deepEqual(inspected.repoDigests.sort(), again.repoDigests.sort());
    } finally {
      hull.close();
    }
  });

  it("sends credentials from the request's AuthConfig (fields or base64 auth)", async () => {
    const ref = "private.example/private/app:v1";
    await assert.rejects(pullCri(ref), (err: unknown) => errorInfo(err).code === grpc.status.UNAUTHENTICATED);
    await assert.rejects(pullCri(ref, { username: "kube", password: "wrong" }), (err: unknown) => errorInfo(err).code === grpc.status.UNAUTHENTICATED);
    const res = await pullCri(ref, { auth: Buffer.from("kube:let-me-in").toString("base64") });
    assert.match(res.imageRef, /^sha256:[0-9a-f]{64}$/);
    await removeCri(res.imageRef);
    await pullCri(ref, { username: "kube", password: "let-me-in" });
    assert.ok((await status(ref)).image);
  });

  it("RemoveImage removes every name, and is idempotent; ImageStatus of an absent image is empty, not an error", async () => {
    const ref = "registry.k8s.io/e2e-test-images/busybox:1.29-2";
    const st = must((await status(ref)).image, "status");
    await removeCri(st.id);
    assert.deepEqual(await status(ref), { image: undefined, info: {} });
    assert.deepEqual(await status(st.repoDigests[0]), { image: undefined, info: {} });
    await removeCri(st.id);
    await removeCri(ref);
    await removeCri("registry.k8s.io/never/pulled:1");
    assert.equal(
      (await list()).find((i) => i.id === st.id),
      undefined,
    );
  });

  it("refuses bad references and names what a failed pull tried", async () => {
    for (const bad of ["", "UPPER/case", "a@sha256:123"]) {
      await assert.rejects(pullCri(bad), (err: unknown) => {
        const e = errorInfo(err);
        assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${bad}: ${e.message}`);
        assert.match(e.message, /image/);
        return true;
      });
    }
    await assert.rejects(pullCri("gcr.io/k8s-staging-cri-tools/missing:1"), (err: unknown) => {
      const e = errorInfo(err);
      assert.equal(e.code, grpc.status.NOT_FOUND, e.message);
      assert.match(e.message, /missing/);
      assert.match(e.message, /127\.0\.0\.1:9/);
      return true;
    });
  });
});
