// Image benchmark, in one run:
//  (a) create+start (to RUNNING) of a container from an image against the
//      same from a rootfs path, interleaved;
//  (b) ImportImage (by host path) of a ~100 MiB OCI layout (random,
//      incompressible gzip layers plus busybox) against the reference
//      `skopeo copy oci:SRC oci:DST` + `umoci unpack` of the same layout;
//  (c) PullImage of that image from a local docker-registry against
//      `skopeo copy docker://… oci:DST` + `umoci unpack`.
// Repetitions are interleaved and cleaned up in between (image removed from
// hull, directories deleted). Not a test: nothing here asserts on speed.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import Table from "cli-table3";
import { envInt, log, stats, timed, type Stats } from "./measure.js";
import { ContainerConfig, ContainerState, type ContainerServiceClient } from "../src/gen/hull/v1/container.js";
import { ImageServiceClient, type PullImageResponse } from "../src/gen/hull/v1/image.js";
import { connectHulld, describeError, unary } from "../src/cli/client.js";
import { buildBusyboxRootfs } from "../test/helpers/rootfs.js";
import { startTestDaemon, type TestDaemon } from "../test/helpers/daemon.js";
import { imageApi, makeTar, writeLayout, type ImageApi, type Layout } from "../test/helpers/images.js";
import { startDockerRegistry, type DockerRegistry } from "../test/helpers/docker-registry.js";

const run = promisify(execFile);

const N = envInt("BENCH_N", 30);
const REPS = envInt("BENCH_REPS", 5);
const LAYERS = envInt("BENCH_LAYERS", 4);
const LAYER_MIB = envInt("BENCH_LAYER_MIB", 25);
// The first runs pay for page cache, JIT and runc's own start-up: keep them out of the numbers.
const WARMUP = 3;
const TAG = "v1";
const CALL_MS = 600_000;

/**
 * An OCI layout of gzip layers: busybox, then LAYERS layers of LAYER_MIB of
 * random bytes each (gzip cannot shrink them), named TAG in index.json.
 */
async function writeBigLayout(dir: string, rootfs: string): Promise<Layout> {
  const busyboxTar = join(dir, "..", "busybox-layer.tar");
  await run("tar", ["-C", rootfs, "-cf", busyboxTar, "."]);
  const tars: Buffer[] = [await readFile(busyboxTar)];
  await rm(busyboxTar);
  for (let i = 0; i < LAYERS; i++) {
    tars.push(
      await makeTar([
        { name: "data/", type: "directory", mode: 0o755 },
        { name: `data/layer-${i}.bin`, content: randomBytes(LAYER_MIB * 2 ** 20) },
      ]),
    );
  }
  return writeLayout(dir, tars, { Cmd: ["sh"] }, { gzip: true, refName: TAG });
}

/** create + start of `sleep`, timed to the RUNNING answer; removal (SIGKILL) is not timed. */
async function createStart(client: ContainerServiceClient, from: { image: string } | { rootfsPath: string }): Promise<number> {
  let id = "";
  const ms = await timed(async () => {
    const created = await unary(client.createContainer.bind(client), { config: ContainerConfig.fromPartial({ command: ["sleep", "1000"], ...from }) });
    id = created.container?.id ?? "";
    const started = await unary(client.startContainer.bind(client), { id, recursive: false });
    if (started.container?.state !== ContainerState.CONTAINER_STATE_RUNNING)
      throw new Error(`container ${id.slice(0, 12)} is ${started.container?.state}, not RUNNING`);
  });
  await unary(client.removeContainer.bind(client), { id, force: true, timeoutSeconds: 0 });
  return ms;
}

async function createStartBoth(client: ContainerServiceClient, image: string, rootfs: string): Promise<{ image: Stats; rootfs: Stats }> {
  const fromImage: number[] = [];
  const fromRootfs: number[] = [];
  for (let i = 0; i < WARMUP; i++) {
    await createStart(client, { image });
    await createStart(client, { rootfsPath: rootfs });
  }
  for (let i = 0; i < N; i++) {
    fromImage.push(await createStart(client, { image }));
    fromRootfs.push(await createStart(client, { rootfsPath: rootfs }));
    if ((i + 1) % 10 === 0) log(`create+start ${i + 1}/${N}`);
  }
  return { image: stats(fromImage), rootfs: stats(fromRootfs) };
}

/** skopeo copy SRC → oci:DST:TAG, then umoci unpack into a bundle; both dirs are deleted afterwards, untimed. */
async function skopeoUmoci(scratch: string, src: string, extraArgs: string[]): Promise<number> {
  const dst = join(scratch, "oci");
  const bundle = join(scratch, "bundle");
  await mkdir(scratch, { recursive: true });
  try {
    return await timed(async () => {
      await run("skopeo", ["copy", "--quiet", ...extraArgs, src, `oci:${dst}:${TAG}`], { maxBuffer: 1 << 20 });
      await run("umoci", ["unpack", "--image", `${dst}:${TAG}`, bundle], { maxBuffer: 1 << 20 });
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function pull(c: ImageServiceClient, reference: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let id = "";
    const call = c.pullImage({ reference, username: "", password: "", insecure: true }, { deadline: new Date(Date.now() + CALL_MS) });
    call.on("data", (res: PullImageResponse) => {
      if (res.message?.$case === "image") id = res.message.value.id;
    });
    call.on("error", reject);
    call.on("end", () => (id ? resolve(id) : reject(new Error(`pull of ${reference} ended without an image`))));
  });
}

/** Removes the image and checks hull's store kept no blob or layer of it, so the next repetition starts cold. */
async function removeFromHull(images: ImageApi, root: string, id: string): Promise<void> {
  await images.remove(id, true);
  const left = [
    ...(await readdir(join(root, "images", "blobs", "sha256")).catch(() => [])),
    ...(await readdir(join(root, "images", "layers")).catch(() => [])),
  ];
  if (left.length > 0) throw new Error(`hull's image store still holds ${left.length} entries after removing ${id}`);
}

interface Pair {
  hull: Stats;
  reference: Stats;
}

async function importVsSkopeo(images: ImageApi, root: string, layout: Layout, base: string): Promise<Pair> {
  const hull: number[] = [];
  const reference: number[] = [];
  // Repetition 0 warms up (page cache, JIT) and is not counted.
  for (let i = 0; i <= REPS; i++) {
    let id = "";
    const h = await timed(async () => (id = (await images.importPath(layout.dir, `bench.local/big:${TAG}`)).id));
    if (id !== layout.configDigest) throw new Error(`imported ${id}, expected ${layout.configDigest}`);
    await removeFromHull(images, root, id);
    const r = await skopeoUmoci(join(base, `ref-import-${i}`), `oci:${layout.dir}:${TAG}`, []);
    log(`import ${i === 0 ? "warm-up" : `${i}/${REPS}`}: hull ${ms(h)} ms, skopeo+umoci ${ms(r)} ms`);
    if (i === 0) continue;
    hull.push(h);
    reference.push(r);
  }
  return { hull: stats(hull), reference: stats(reference) };
}

async function pullVsSkopeo(c: ImageServiceClient, images: ImageApi, root: string, reg: DockerRegistry, layout: Layout, base: string): Promise<Pair> {
  await reg.push(layout.dir, TAG, "bench/big", TAG);
  const ref = `${reg.host}/bench/big:${TAG}`;
  const hull: number[] = [];
  const reference: number[] = [];
  for (let i = 0; i <= REPS; i++) {
    let id = "";
    const h = await timed(async () => (id = await pull(c, ref)));
    if (id !== layout.configDigest) throw new Error(`pulled ${id}, expected ${layout.configDigest}`);
    await removeFromHull(images, root, id);
    const r = await skopeoUmoci(join(base, `ref-pull-${i}`), `docker://${ref}`, ["--src-tls-verify=false"]);
    log(`pull ${i === 0 ? "warm-up" : `${i}/${REPS}`}: hull ${ms(h)} ms, skopeo+umoci ${ms(r)} ms`);
    if (i === 0) continue;
    hull.push(h);
    reference.push(r);
  }
  return { hull: stats(hull), reference: stats(reference) };
}

const ms = (v: number): string => v.toFixed(1);

function report(life: { image: Stats; rootfs: Stats } | undefined, imp: Pair | undefined, pulled: Pair | undefined, mib: number): string {
  const table = new Table({ head: ["measure", "n", "p50 ms", "p95 ms", "mean ms", "MiB/s (p50)", "× reference p50 / p95"], style: { head: [], border: [] } });
  // Each measured row names its reference (measured in the same run, interleaved) and says how it compares.
  const row = (name: string, s: Stats, rate = "", ref?: Stats): void =>
    void table.push([
      name,
      String(s.n),
      ms(s.p50),
      ms(s.p95),
      ms(s.mean),
      rate,
      ref ? `${(s.p50 / ref.p50).toFixed(2)} / ${(s.p95 / ref.p95).toFixed(2)}` : "",
    ]);
  const ratio = (name: string, a: Stats, b: Stats): void =>
    void table.push([name, "", (a.p50 / b.p50).toFixed(2), (a.p95 / b.p95).toFixed(2), (a.mean / b.mean).toFixed(2), "", ""]);
  const rate = (s: Stats): string => (mib / (s.p50 / 1000)).toFixed(1);
  if (life) {
    row("create+start from image (to RUNNING)", life.image, "", life.rootfs);
    row("create+start from rootfs path", life.rootfs);
    ratio("ratio image / rootfs", life.image, life.rootfs);
  }
  if (imp) {
    row(`hull ImportImage by path (${mib.toFixed(0)} MiB layout)`, imp.hull, rate(imp.hull), imp.reference);
    row("skopeo copy oci→oci + umoci unpack", imp.reference, rate(imp.reference));
    ratio("ratio hull / skopeo+umoci (import)", imp.hull, imp.reference);
  }
  if (pulled) {
    row("hull PullImage from docker-registry", pulled.hull, rate(pulled.hull), pulled.reference);
    row("skopeo copy docker→oci + umoci unpack", pulled.reference, rate(pulled.reference));
    ratio("ratio hull / skopeo+umoci (pull)", pulled.hull, pulled.reference);
  }
  return `${table.toString()}\n(p50 is the median; import and pull: ${REPS} repetitions each after one warm-up, interleaved, ${LAYERS} random layers of ${LAYER_MIB} MiB plus busybox, gzip; create+start: N=${N} each, interleaved)\n`;
}

async function main(): Promise<void> {
  const base = await mkdtemp("/tmp/hi-");
  let daemon: TestDaemon | undefined;
  let client: ContainerServiceClient | undefined;
  let imagesClient: ImageServiceClient | undefined;
  let images: ImageApi | undefined;
  let reg: DockerRegistry | undefined;
  let life: { image: Stats; rootfs: Stats } | undefined;
  let imp: Pair | undefined;
  let pulled: Pair | undefined;
  let mib = 0;
  try {
    const rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    daemon = await startTestDaemon({ logLevel: process.env.HULL_LOG_LEVEL ?? "warn" });
    client = await connectHulld(daemon.socket);
    imagesClient = new ImageServiceClient(`unix:${daemon.socket}`, grpc.credentials.createInsecure());
    images = imageApi(daemon.socket);

    // (a) A busybox image made from the same rootfs, so both sides run the same files.
    const rootfsTar = join(base, "busybox.tar");
    await run("tar", ["-C", rootfs, "-cf", rootfsTar, "."]);
    const small = await images.importPath(rootfsTar, "bench.local/busybox:latest");
    log(`N=${N} create+start each (from image, from rootfs path), interleaved`);
    life = await createStartBoth(client, small.id, rootfs);
    await removeFromHull(images, daemon.root, small.id);

    log(`writing a layout of busybox + ${LAYERS} x ${LAYER_MIB} MiB random layers`);
    const layout = await writeBigLayout(join(base, "layout"), rootfs);
    mib = layout.bytes / 2 ** 20;
    imp = await importVsSkopeo(images, daemon.root, layout, base);

    reg = await startDockerRegistry();
    pulled = await pullVsSkopeo(imagesClient, images, daemon.root, reg, layout, base);
  } catch (err) {
    process.stderr.write(`bench: failed: ${describeError(err).message}\n`);
    if (daemon) process.stderr.write(`hulld output (tail):\n${daemon.output().slice(-4000)}\n`);
    if (reg) process.stderr.write(`docker-registry output (tail):\n${reg.output().slice(-2000)}\n`);
    process.exitCode = 1;
  } finally {
    images?.close();
    imagesClient?.close();
    client?.close();
    await reg?.close().catch((err: unknown) => log(`registry cleanup: ${String(err)}`));
    await daemon?.cleanup().catch((err: unknown) => log(`daemon cleanup: ${String(err)}`));
    await rm(base, { recursive: true, force: true });
  }
  // Whatever was measured before a failure is still worth printing.
  if (life || imp || pulled) process.stdout.write(report(life, imp, pulled, mib));
}

await main();
