// hull.v1.ImageService: thin handlers over the image operations (ops/images.ts).
// ImportImage streams: its first message names the source, and chunks that
// follow (when the source names no path) are spooled to a file first.
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { ServerReadableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Image, ImageServiceServer, ImportImageRequest, ImportImageResponse, ImportImageSource } from "../gen/hull/v1/image.js";
import type { Engine } from "../engine/engine.js";
import { invalidArgument } from "../errors.js";
import type { ImageRecord } from "../images/image-store.js";
import { importImage, importSpoolPath, inspectImage, listImages, pullImage, removeImage } from "../ops/images.js";
import { RpcWrapper } from "./rpc.js";
import {
  validateImportSource,
  validateInspectImageRequest,
  validateListImagesRequest,
  validatePullRequest,
  validateRemoveImageRequest,
} from "../validation/image-requests.js";

/** Largest streamed import accepted (spooled to disk first). */
const MAX_STREAM_BYTES = 16 * 1024 * 1024 * 1024;

export function toImage(img: ImageRecord): Image {
  return {
    id: img.id,
    tags: [...img.tags],
    digest: img.digest,
    sizeBytes: img.sizeBytes,
    createdAt: new Date(img.createdAt),
    layerDigests: img.layers.map((l) => l.digest),
    entrypoint: [...img.entrypoint],
    cmd: [...img.cmd],
    env: [...img.env],
    workingDir: img.workingDir,
    user: img.user,
    labels: { ...img.labels },
    architecture: img.architecture,
    os: img.os,
    repoDigests: [...img.repoDigests],
  };
}

/**
 * Reads the first message (the source) and, when it names no path, spools
 * the chunks that follow to a file; returns the source and the file to import.
 */
async function receiveImport(
  engine: Engine,
  call: ServerReadableStream<ImportImageRequest, ImportImageResponse>,
): Promise<{ src: ImportImageSource; path: string; spooled: boolean }> {
  let src: ImportImageSource | undefined;
  let spool: string | undefined;
  let out: ReturnType<typeof createWriteStream> | undefined;
  let received = 0;
  let writeErr: Error | undefined;
  try {
    for await (const raw of call) {
      const msg = (raw as ImportImageRequest).message;
      if (!src) {
        if (msg?.$case !== "source") throw invalidArgument("source", "the first message must be the source");
        src = msg.value;
        validateImportSource(src);
        if (src.path === "") {
          spool = await importSpoolPath(engine);
          out = createWriteStream(spool, { mode: 0o600 });
          // Kept and rethrown: an unhandled stream error would take the daemon down.
          out.on("error", (err) => {
            writeErr = err;
          });
        }
        continue;
      }
      if (msg?.$case !== "chunk") throw invalidArgument("source", "sent twice");
      if (!out) throw invalidArgument("chunk", "chunks were sent although source.path names the image");
      received += msg.value.length;
      if (received > MAX_STREAM_BYTES) throw invalidArgument("chunk", `more than ${MAX_STREAM_BYTES} bytes`);
      if (src.sizeBytes > 0 && received > src.sizeBytes) throw invalidArgument("chunk", `more bytes than source.size_bytes (${src.sizeBytes})`);
      if (writeErr) throw writeErr;
      if (!out.write(msg.value))
        await new Promise<void>((resolve) => {
          out?.once("drain", () => resolve());
          out?.once("error", () => resolve());
        });
    }
    if (!src) throw invalidArgument("source", "no source message was sent");
    if (out) {
      const w = out;
      await new Promise<void>((resolve, reject) => w.end((err?: Error | null) => (err ? reject(err) : resolve())));
      if (received === 0) throw invalidArgument("chunk", "no image bytes were sent and source.path is empty");
      if (src.sizeBytes > 0 && received !== src.sizeBytes) throw invalidArgument("source.size_bytes", `${src.sizeBytes} announced, ${received} received`);
    }
    return { src, path: spool ?? src.path, spooled: spool !== undefined };
  } catch (err) {
    out?.destroy();
    if (spool) await rm(spool, { force: true });
    throw err;
  }
}

export function imageService(engine: Engine, log: Logger): ImageServiceServer {
  const rpc = new RpcWrapper("hull.v1.ImageService", log);
  return {
    importImage: rpc.clientStream("ImportImage", async (call) => {
      const { src, path, spooled } = await receiveImport(engine, call);
      return { image: toImage(await importImage(engine, { path, format: src.format, reference: src.reference, spooled })) };
    }),
    pullImage: rpc.serverStream("PullImage", async (call, ctx) => {
      const req = call.request;
      validatePullRequest(req);
      const img = await pullImage(engine, req, ctx.signal, (p) => {
        if (!ctx.signal.aborted) call.write({ message: { $case: "progress", value: p } });
      });
      call.write({ message: { $case: "image", value: toImage(img) } });
    }),
    listImages: rpc.unary("ListImages", async (req) => {
      validateListImagesRequest(req);
      return { images: listImages(engine, req.reference).map(toImage) };
    }),
    inspectImage: rpc.unary("InspectImage", async (req) => {
      validateInspectImageRequest(req);
      return { image: toImage(inspectImage(engine, req.reference)) };
    }),
    removeImage: rpc.unary("RemoveImage", async (req) => {
      validateRemoveImageRequest(req);
      return removeImage(engine, req.reference, req.force);
    }),
  };
}
