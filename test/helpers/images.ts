// A promise-based ImageService client for tests, and an OCI image layout
// built in the test itself (layers made with tar-stream, digests computed here).
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { gzipSync, constants as zlibConstants } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import tar from "tar-stream";
import {
  ImageServiceClient,
  type Image,
  type ImportImageSource,
  type PullImageRequest,
  type PullImageResponse,
  type PullProgress,
  type RemoveImageResponse,
} from "../../src/gen/hull/v1/image.js";

export interface ImageApi {
  importPath(path: string, reference?: string, format?: string): Promise<Image>;
  importStream(data: Buffer, reference: string, chunkSize?: number): Promise<Image>;
  list(reference?: string): Promise<Image[]>;
  inspect(reference: string): Promise<Image>;
  remove(reference: string, force?: boolean): Promise<RemoveImageResponse>;
  close(): void;
}

const deadline = (): Date => new Date(Date.now() + 60_000);

export function imageApi(socket: string): ImageApi {
  const c = new ImageServiceClient(`unix:${socket}`, grpc.credentials.createInsecure());
  const unary = <T>(fn: (cb: (err: grpc.ServiceError | null, res: T) => void) => void): Promise<T> =>
    new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
  const doImport = (source: Partial<ImportImageSource>, chunks: Buffer[]): Promise<Image> =>
    new Promise((resolve, reject) => {
      const call = c.importImage({ deadline: deadline() }, (err, res) => {
        if (err) reject(err);
        else if (!res.image) reject(new Error("ImportImageResponse has no image"));
        else resolve(res.image);
      });
      call.write({ message: { $case: "source", value: { path: "", reference: "", format: "", sizeBytes: 0, ...source } } });
      for (const chunk of chunks) call.write({ message: { $case: "chunk", value: chunk } });
      call.end();
    });
  return {
    importPath: (path, reference = "", format = "") => doImport({ path, reference, format }, []),
    importStream: (data, reference, chunkSize = 64 * 1024) => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.subarray(i, i + chunkSize));
      return doImport({ reference, sizeBytes: data.length }, chunks);
    },
    list: async (reference = "") =>
      (await unary<{ images: Image[] }>((cb) => c.listImages({ reference }, new grpc.Metadata(), { deadline: deadline() }, cb))).images,
    inspect: async (reference) => {
      const res = await unary<{ image?: Image }>((cb) => c.inspectImage({ reference }, new grpc.Metadata(), { deadline: deadline() }, cb));
      if (!res.image) throw new Error("InspectImageResponse has no image");
      return res.image;
    },
    remove: (reference, force = false) =>
      unary<RemoveImageResponse>((cb) => c.removeImage({ reference, force }, new grpc.Metadata(), { deadline: deadline() }, cb)),
    close: () => c.close(),
  };
}

export const sha256 = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

// Derived from pack.entry, so it holds whichever tar-stream typings are installed.
export type TarEntry = Parameters<ReturnType<typeof tar.pack>["entry"]>[0] & { content?: string | Buffer };

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) out.push(chunk as Buffer);
  })();
  for (const { content, ...h } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ mode: 0o644, mtime: new Date(1_700_000_000_000), ...h }, content ?? "", (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(out);
}

export interface Layout {
  dir: string;
  configDigest: string;
  manifestDigest: string;
  layerDigests: string[];
  diffIds: string[];
  /** Sum of the blob sizes (layers, config, manifest). */
  bytes: number;
}

export interface LayoutOptions {
  /** Store the layers gzip-compressed (fastest level), as registries serve them. */
  gzip?: boolean;
  /** An org.opencontainers.image.ref.name annotation, so `oci:DIR:NAME` (skopeo, umoci) finds it. */
  refName?: string;
}

/** Writes an OCI image layout with the given (uncompressed) layers to dir. */
export async function writeLayout(dir: string, layers: Buffer[], config: Record<string, unknown>, opts: LayoutOptions = {}): Promise<Layout> {
  const blobs = join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  let bytes = 0;
  const put = async (b: Buffer): Promise<string> => {
    const d = sha256(b);
    await writeFile(join(blobs, d.slice(7)), b);
    bytes += b.length;
    return d;
  };
  const diffIds = layers.map(sha256);
  const stored = opts.gzip ? layers.map((l) => gzipSync(l, { level: zlibConstants.Z_BEST_SPEED })) : layers;
  const layerDigests = await Promise.all(stored.map(put));
  const cfg = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config, rootfs: { type: "layers", diff_ids: diffIds } }));
  const configDigest = await put(cfg);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: cfg.length },
      layers: stored.map((l, i) => ({
        mediaType: `application/vnd.oci.image.layer.v1.tar${opts.gzip ? "+gzip" : ""}`,
        digest: layerDigests[i],
        size: l.length,
      })),
    }),
  );
  const manifestDigest = await put(manifest);
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: manifestDigest,
        size: manifest.length,
        platform: { architecture: "amd64", os: "linux" },
        ...(opts.refName ? { annotations: { "org.opencontainers.image.ref.name": opts.refName } } : {}),
      },
    ],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return { dir, configDigest, manifestDigest, layerDigests, diffIds, bytes };
}

/** PullImage, collecting the progress stream; resolves with the final image (plain HTTP unless `insecure: false`). */
export function pull(c: ImageServiceClient, req: Partial<PullImageRequest>, deadlineMs = 120_000): Promise<{ progress: PullProgress[]; image: Image }> {
  return new Promise((resolve, reject) => {
    const progress: PullProgress[] = [];
    let image: Image | undefined;
    const call = c.pullImage({ reference: "", username: "", password: "", insecure: true, ...req }, { deadline: new Date(Date.now() + deadlineMs) });
    call.on("data", (res: PullImageResponse) => {
      if (res.message?.$case === "progress") progress.push(res.message.value);
      else if (res.message?.$case === "image") image = res.message.value;
    });
    call.on("error", reject);
    call.on("end", () => (image ? resolve({ progress, image }) : reject(new Error("the stream ended without an image"))));
  });
}

/** Every path under dir (recursive, sorted); [] when dir is missing. */
export async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).sort();
}

/** Imports the rootfs dir as an image tagged ref (a rootfs tarball, as `podman import`), through a tar made in workDir. */
export async function importRootfsImage(socket: string, rootfs: string, workDir: string, ref: string): Promise<void> {
  const tarball = join(workDir, `rootfs-${ref.replace(/[^a-zA-Z0-9_.-]/g, "_")}.tar`);
  await promisify(execFile)("tar", ["-C", rootfs, "-cf", tarball, "."]);
  const images = imageApi(socket);
  try {
    await images.importStream(await readFile(tarball), ref);
  } finally {
    images.close();
    await rm(tarball, { force: true });
  }
}
