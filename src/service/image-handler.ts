// hull.v1.ImageService: the image store (import, list, inspect, remove).
// PullImage fetches from an OCI distribution registry (src/storage/registry.ts).
// Import, pull and remove are recorded as image events (tag moves by the
// store itself, see imageStoreOf) before the call answers.
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { ServerReadableStream, sendUnaryData } from "@grpc/grpc-js";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Image, ImageServiceServer, ImportImageRequest, ImportImageResponse, ImportImageSource } from "../gen/hull/v1/image.js";
import type { Engine } from "../engine/engine.js";
import { removeContainer } from "../ops/stop.js";
import { HullError, invalidArgument } from "../errors.js";
import type { ImageRecord } from "../images/image-store.js";
import { imageEvent, imageStoreOf } from "../ops/images.js";
import { importImage, spoolPath } from "../images/oci-import.js";
import { normalizeReference } from "../domain/reference.js";
import { pullImage } from "../images/registry.js";
import { RpcWrapper } from "./rpc.js";
import { recordPeer } from "./peer.js";
import { asHullError, toServiceError } from "./status.js";
import { validateImportSource, validateInspectImageRequest, validateListImagesRequest, validatePullRequest, validateRemoveImageRequest } from "../validation/image-requests.js";

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
  };
}

/**
 * Reads the first message (the source) and, when it names no path, spools
 * the chunks that follow to a file; returns the source and the file to import.
 */
async function receiveImport(engine: Engine, call: ServerReadableStream<ImportImageRequest, ImportImageResponse>): Promise<{ src: ImportImageSource; path: string; spooled: boolean }> {
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
          spool = await spoolPath(await imageStoreOf(engine));
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
      if (!out.write(msg.value)) await new Promise<void>((resolve) => {
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

function importHandler(engine: Engine, log: Logger): ImageServiceServer["importImage"] {
  return (call, callback: sendUnaryData<ImportImageResponse>) => {
    void trace.getTracer("hull").startActiveSpan("hull.v1.ImageService/ImportImage", async (span) => {
      span.setAttribute("rpc.system", "grpc");
      span.setAttribute("rpc.method", "ImportImage");
      const peerRecorded = recordPeer(span, call);
      try {
        const { src, path, spooled } = await receiveImport(engine, call);
        try {
          const store = await imageStoreOf(engine);
          const img = await importImage(store, path, src.format, src.reference);
          log.info({ image: img.id, tags: img.tags }, "image imported");
          await imageEvent(engine, "image_import", img.id, eventAttributes({ reference: src.reference, name: tagOf(src.reference) ?? "", source: spooled ? "stream" : "path" }));
          callback(null, { image: toImage(img) });
        } finally {
          if (spooled) await rm(path, { force: true });
        }
      } catch (err) {
        const e = asHullError(err);
        span.recordException(e);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
        if (e.reason === "INTERNAL") log.error({ err }, "ImportImage failed");
        callback(toServiceError(e), null);
      } finally {
        await peerRecorded;
        span.end();
      }
    });
  };
}

/** Attributes without the empty ones (an import without a reference has no name). */
function eventAttributes(attrs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== ""));
}

function tagOf(ref: string): string | undefined {
  if (ref === "") return undefined;
  try {
    return normalizeReference(ref);
  } catch {
    return undefined;
  }
}

/** Removes an image; force removes the containers using it first, as `podman rmi -f`. */
async function removeImage(engine: Engine, ref: string, force: boolean): Promise<{ id: string; removedLayers: string[] }> {
  const store = await imageStoreOf(engine);
  const img = store.resolve(ref);
  // One of several tags: only the tag goes, as podman rmi does (the store reports it as image_tag).
  const tag = tagOf(ref);
  if (!force && tag !== undefined && img.tags.includes(tag) && img.tags.length > 1) {
    await store.lock.runExclusive(() => store.untag(img.id, tag));
    return { id: img.id, removedLayers: [] };
  }
  const users = async (): Promise<string[]> => (await engine.store.listContainers()).filter((c) => c.imageId === img.id).map((c) => c.id);
  const using = await users();
  if (using.length > 0 && !force) {
    throw new HullError("CONTAINER_HAS_DEPENDENTS", `image ${img.id.slice(7, 19)} is in use by container(s) ${using.map((c) => c.slice(0, 12)).join(", ")}: remove them first or force`, {
      image: img.id,
      containers: using.join(","),
    });
  }
  for (const id of using) await removeContainer(engine, id, true, 0);
  return store.lock.runExclusive(async () => {
    const still = await users();
    if (still.length > 0) throw new HullError("CONTAINER_HAS_DEPENDENTS", `image ${img.id.slice(7, 19)} gained container(s) ${still.map((c) => c.slice(0, 12)).join(", ")} while it was being removed`, { image: img.id });
    const removedLayers = await store.delete(img.id);
    const name = tag !== undefined && img.tags.includes(tag) ? tag : (img.tags[0] ?? "");
    await imageEvent(engine, "image_remove", img.id, eventAttributes({ reference: ref, name, tags: img.tags.join(","), removedLayers: String(removedLayers.length) }));
    return { id: img.id, removedLayers };
  });
}

export function imageService(engine: Engine, log: Logger): ImageServiceServer {
  const rpc = new RpcWrapper("hull.v1.ImageService", log);
  return {
    importImage: importHandler(engine, log),
    pullImage: rpc.serverStream("PullImage", async (call, ctx) => {
      const req = call.request;
      validatePullRequest(req);
      const store = await imageStoreOf(engine);
      const img = await pullImage(store, req.reference, { username: req.username, password: req.password, insecure: req.insecure, signal: ctx.signal }, (p) => {
        if (!ctx.signal.aborted) call.write({ message: { $case: "progress", value: p } });
      });
      log.info({ image: img.id, tags: img.tags, reference: req.reference }, "image pulled");
      await imageEvent(engine, "image_pull", img.id, eventAttributes({ reference: req.reference, name: tagOf(req.reference) ?? "", digest: img.digest }));
      call.write({ message: { $case: "image", value: toImage(img) } });
    }),
    listImages: rpc.unary("ListImages", async (req) => {
      validateListImagesRequest(req);
      const store = await imageStoreOf(engine);
      return { images: store.list(req.reference).map(toImage) };
    }),
    inspectImage: rpc.unary("InspectImage", async (req) => {
      validateInspectImageRequest(req);
      const store = await imageStoreOf(engine);
      return { image: toImage(store.resolve(req.reference)) };
    }),
    removeImage: rpc.unary("RemoveImage", async (req) => {
      validateRemoveImageRequest(req);
      return removeImage(engine, req.reference, req.force);
    }),
  };
}
