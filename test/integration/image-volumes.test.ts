// Image volumes on a real hulld and runc, on a hulld with no CNI (host-network
// pods): the CRI's Mount.image and hull.v1's type "image" mount. The test
// busybox image (one layer: a read-only bind of its layer dir) and a
// two-layer data image (a lowerdir-only overlay, the top layer winning) are
// mounted read-only; the container's own rootfs stays writable; an absent
// image is refused by name; RemoveImage of a volume's image is refused while
// its container exists; nothing stays mounted after removal, nor after a
// hulld restart finds the container's process gone.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { NamespaceMode, type PodSandboxConfig, type Mount as CriMount } from "../../src/gen/runtime/v1/api.js";
import { ContainerState } from "../../src/gen/hull/v1/container.js";
import { startTestDaemon, RUNTIME_ROOT_SUBDIR, type TestDaemon } from "../helpers/daemon.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { assertGrpcError, errorInfo } from "../helpers/api.js";
import { must } from "../helpers/fixtures.js";
import { imageApi, makeTar, writeLayout } from "../helpers/images.js";
import { BUSYBOX, PAUSE, containerConfig, criClient, importTestImages, podConfig, podLinux, tearDownCri, until, type CriClient } from "../helpers/cri.js";

const run = promisify(execFile);
const DATA = "localhost/hull-test/data:1";
const ABSENT = "localhost/hull-test/absent:1";

const imageMount = (image: string, containerPath: string, over: Partial<CriMount> = {}): CriMount => ({
  containerPath,
  hostPath: "",
  readonly: true,
  selinuxRelabel: false,
  propagation: 0,
  uidMappings: [],
  gidMappings: [],
  recursiveReadOnly: false,
  image: { image, annotations: {}, userSpecifiedImage: image, runtimeHandler: "" },
  ...over,
});

/** Host mount points whose path names the container (its rootfs overlay, its image volumes). */
async function mountsOf(id: string): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.includes(id));
}

describe("image volumes (CRI Mount.image, hull.v1 type image)", () => {
  let work = "";
  let d: TestDaemon | undefined;
  let cri: CriClient | undefined;
  const c = (): CriClient => must(cri, "CRI client");
  const daemon = (): TestDaemon => must(d, "daemon");
  const pods: string[] = [];
  const hostNetwork = (): PodSandboxConfig => podConfig({ linux: podLinux({ network: NamespaceMode.NODE }) });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hull-imgvol-"));
    const rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    d = await startTestDaemon({ env: { HULL_CNI_CONFIG_DIR: join(work, "no-net.d"), HULL_PAUSE_IMAGE: PAUSE } });
    await importTestImages(d.socket, work, rootfs);
    // Two layers: the top one's b.txt hides the bottom one's, as in the image's own rootfs.
    const bottom = await makeTar([
      { name: "data/", type: "directory", mode: 0o755 },
      { name: "data/a.txt", content: "one\n" },
      { name: "data/b.txt", content: "old\n" },
    ]);
    const top = await makeTar([{ name: "data/b.txt", content: "new\n" }]);
    const images = imageApi(d.socket);
    try {
      await images.importPath((await writeLayout(join(work, "data-layout"), [bottom, top], { Cmd: ["none"] })).dir, DATA);
    } finally {
      images.close();
    }
    cri = criClient(d.socket);
  });

  after(() => tearDownCri(pods, cri, d, work));

  const exec = async (id: string, cmd: string[]): Promise<{ out: string; code: number }> => {
    const r = await c().execSync({ containerId: id, cmd, timeout: 10n });
    return { out: r.stdout.toString() + r.stderr.toString(), code: r.exitCode };
  };

  async function pod(): Promise<{ id: string; config: PodSandboxConfig }> {
    const config = hostNetwork();
    const { podSandboxId } = await c().runPodSandbox({ config, runtimeHandler: "" });
    pods.push(podSandboxId);
    return { id: podSandboxId, config };
  }

  it("mounts the image read-only at container_path; the container's rootfs stays its own", async () => {
    const p = await pod();
    const { containerId: id } = await c().createContainer({
      podSandboxId: p.id,
      config: containerConfig(BUSYBOX, { command: ["sleep", "1000"], mounts: [imageMount(BUSYBOX, "/vol"), imageMount(DATA, "/data")] }),
      sandboxConfig: p.config,
    });
    await c().startContainer({ containerId: id });

    assert.equal((await exec(id, ["ls", "/vol/bin/busybox"])).code, 0);
    const write = await exec(id, ["touch", "/vol/written"]);
    assert.notEqual(write.code, 0);
    assert.match(write.out, /Read-only file system/);
    assert.equal((await exec(id, ["cat", "/data/data/a.txt", "/data/data/b.txt"])).out, "one\nnew\n");
    assert.match((await exec(id, ["sh", "-c", "echo x > /data/data/b.txt"])).out, /Read-only file system/);
    // The rootfs is the container's own overlay: writable, and a write there is not in the volume (same image).
    assert.equal((await exec(id, ["touch", "/written"])).code, 0);
    assert.notEqual((await exec(id, ["ls", "/vol/written"])).code, 0);
    assert.ok(
      (await mountsOf(id)).some((m) => m.includes("image-volumes")),
      "the volumes are mounted on the host under the container's dir",
    );

    const st = await c().containerStatus({ containerId: id, verbose: false });
    const vol = st.status?.mounts.find((m) => m.containerPath === "/data");
    assert.equal(vol?.image?.image, DATA);
    assert.equal(vol?.hostPath, "");
    assert.equal(vol?.readonly, true);

    // The data image is used only by the volume: still refused while the container exists.
    await assert.rejects(c().removeImage({ image: { image: DATA, annotations: {}, userSpecifiedImage: "", runtimeHandler: "" } }), (e: unknown) => {
      const info = errorInfo(e);
      assert.equal(info.code, grpc.status.FAILED_PRECONDITION, info.message);
      assert.match(info.message, new RegExp(`in use by container\\(s\\) ${id.slice(0, 12)}`));
      return true;
    });

    await c().stopContainer({ containerId: id, timeout: 0n });
    await c().removeContainer({ containerId: id });
    assert.deepEqual(await mountsOf(id), [], "no overlay or image volume of the removed container stays mounted");
  });

  it("refuses an image that is not in the store, naming it, and a writable image volume", async () => {
    const p = await pod();
    const create = (m: CriMount): Promise<unknown> =>
      c().createContainer({ podSandboxId: p.id, config: containerConfig(BUSYBOX, { command: ["sleep", "1000"], mounts: [m] }), sandboxConfig: p.config });
    await assert.rejects(create(imageMount(ABSENT, "/vol")), (e: unknown) => {
      const info = errorInfo(e);
      assert.equal(info.code, grpc.status.NOT_FOUND, info.message);
      assert.match(info.message, new RegExp(`image "${ABSENT}".*not in hull's store`));
      return true;
    });
    await assert.rejects(create(imageMount(DATA, "/vol", { readonly: false })), (e: unknown) => {
      const info = errorInfo(e);
      assert.equal(info.code, grpc.status.INVALID_ARGUMENT, info.message);
      assert.match(info.message, /config\.mounts\[0\]\.readonly.*always read-only/);
      return true;
    });
  });

  it("hull.v1: CreateContainer with a type image mount; a restart that finds the process gone leaves nothing mounted", async () => {
    const api = (): TestDaemon["api"] => daemon().api;
    await assertGrpcError(
      api().createContainer({
        config: { image: BUSYBOX, command: ["true"], mounts: [{ type: "image", source: DATA, destination: "/data", options: ["rw"] }] },
      }),
      grpc.status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
      "always read-only",
    );
    const { container } = await api().createContainer({
      config: { image: BUSYBOX, command: ["sleep", "1000"], mounts: [{ type: "image", source: DATA, destination: "/data", options: [] }] },
    });
    const id = must(container, "container").id;
    await api().startContainer({ id });
    const r = await api().execSync({ id, command: ["cat", "/data/data/b.txt"] });
    assert.equal(r.stdout.toString(), "new\n");
    assert.ok(
      (await mountsOf(id)).some((m) => m.endsWith("/image-volumes/0")),
      "the volume is mounted while the container runs",
    );

    // Killed behind a dead hulld's back: the restarted one records the exit and releases the mounts.
    await daemon().kill();
    await run("runc", ["--root", join(daemon().runRoot, RUNTIME_ROOT_SUBDIR), "kill", id, "KILL"]);
    await daemon().restart();
    await until("the exit recorded", async () => {
      const got = await api().inspectContainer({ id });
      return got.container?.state === ContainerState.CONTAINER_STATE_EXITED ? true : undefined;
    });
    assert.deepEqual(await mountsOf(id), [], "recovery leaves no rootfs overlay or image volume mounted for an exited container");
    await api().removeContainer({ id });
  });
});
