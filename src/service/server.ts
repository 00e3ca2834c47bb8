// The gRPC server: ContainerService, ImageService, the CRI's runtime.v1
// RuntimeService and ImageService, health and reflection (so
// grpcurl / buf curl need nothing but the socket), on a unix socket (0660,
// group configurable) and optionally on TCP with mutual TLS.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createConnection, createServer as createNetServer, type Server as NetServer } from "node:net";
import { mkdir, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { ContainerServiceService } from "../gen/hull/v1/container.js";
import { DESCRIPTOR_SET_BASE64 } from "../gen/descriptor-set.js";
import { ImageServiceService } from "../gen/hull/v1/image.js";
import { ImageServiceService as CriImageServiceService, RuntimeServiceService as CriRuntimeServiceService } from "../gen/runtime/v1/api.js";
import { criImageService, criRuntimeService } from "./cri/runtime-service.js";
import type { StreamingServer } from "./streaming/server.js";
import { imageService } from "./image-handler.js";
import { HullError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { containerService } from "./container-service.js";
import { adoptUnixConnection, UnixPeerResolver } from "./peer.js";
import { setSocketOwnership, type SocketGroup } from "./socket-access.js";
import { bindAddress } from "./tls.js";
import { tolerantDefinition } from "../validation/wire.js";
import { preEncodedResponses } from "./encoded.js";
import { addLazyReflection, LazyHealth } from "./lazy-services.js";

/**
 * Reflection serves the real descriptor files (with their imports), taken
 * from the FileDescriptorSet that `npm run generate` embeds; built at the
 * first reflection call (lazy-services.ts).
 */
function reflectionDefinition(): PackageDefinition {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(DESCRIPTOR_SET_BASE64, "base64"));
  const fileDescriptorProtos = set.file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  // Reflection reads only fileDescriptorProtos; one entry carries every file.
  return { "hull.v1": { format: "Protocol Buffer 3 EnumDescriptorProto", type: {}, fileDescriptorProtos } };
}

/** Refuses to take over a socket another live process still serves. */
export async function claimSocketPath(socket: string): Promise<void> {
  // Normally a no-op: prepareSocketDir (socket-access.ts) made the directory with the right mode and group.
  await mkdir(dirname(socket), { recursive: true, mode: 0o700 });
  const exists = await stat(socket).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  const live = await new Promise<boolean>((resolve) => {
    const conn = createConnection(socket);
    conn.once("connect", () => {
      conn.destroy();
      resolve(true);
    });
    conn.once("error", () => resolve(false));
  });
  if (live) throw new HullError("UNAVAILABLE", `another process is serving ${socket}: is another hulld running?`);
  await unlink(socket);
}

/** Transport limits; see DEFAULT_LIMITS for the reasoning behind each default. */
export interface TransportLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  maxConcurrentStreams: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  // The largest legitimate requests are 1 MiB: an artifact (MAX_ARTIFACT_BYTES)
  // and an image import chunk (the CLI sends 1 MiB). 16 MiB leaves room for
  // big container configs while bounding what one message can make hulld buffer.
  maxReceiveMessageBytes: 16 * 1024 * 1024,
  // Replies can be large (a list of 10k containers with full configs, 16 MiB
  // of exec output per stream); the CLI accepts 256 MiB.
  maxSendMessageBytes: 256 * 1024 * 1024,
  // Per connection: attach, logs -f and events streams are long-lived, but
  // hundreds on one connection means a runaway client.
  maxConcurrentStreams: 256,
};

/**
 * Server-side keepalive: ping an idle connection every 5 minutes and drop it
 * when no answer comes within 20 s, so a vanished TCP client's streams (events,
 * logs -f, attach) are released instead of being held forever.
 */
const KEEPALIVE = { "grpc.keepalive_time_ms": 5 * 60_000, "grpc.keepalive_timeout_ms": 20_000 };

export interface ServerOptions {
  socket: string;
  socketGroup?: SocketGroup;
  /** The TLS listener; credentials from serverCredentials() (tls.ts). */
  tcp?: { host: string; port: number; credentials: ServerCredentials };
  limits?: Partial<TransportLimits>;
  /** Where the CRI's Exec, Attach and PortForward URLs lead. */
  streaming: StreamingServer;
  log: Logger;
}

export interface RunningServer {
  server: Server;
  health: LazyHealth;
  /** "host:port" the TCP listener is bound to, when there is one. */
  tcpAddress?: string;
  /** Stops accepting, lets calls finish for up to graceMs, then cuts the rest. */
  shutdown(graceMs: number): Promise<void>;
}

function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new HullError("INVALID_ARGUMENT", `${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * The unix listener is hulld's own net.Server: each accepted connection is
 * registered for its peer's credentials (src/service/peer.ts), then handed to
 * grpc-js, synchronously, before any byte is read.
 */
async function listenUnix(server: Server, socket: string, log: Logger): Promise<NetServer> {
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const resolver = new UnixPeerResolver(log);
  const listener = createNetServer((conn) => {
    try {
      adoptUnixConnection(conn, socket, resolver);
    } catch (err) {
      log.warn({ err, socket }, "cannot identify the peer of a unix connection");
    }
    injector.injectConnection(conn);
  });
  await claimSocketPath(socket);
  // The socket is born 0660 (never briefly world-writable), then chmod/chown make it explicit.
  const previous = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(socket, () => {
        listener.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  listener.on("error", (err) => log.error({ err, socket }, "unix listener failed"));
  return listener;
}

export async function startServer(engine: Engine, opts: ServerOptions): Promise<RunningServer> {
  const { log } = opts;
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const server = new Server({
    "grpc.max_receive_message_length": checkLimit("max receive message bytes", limits.maxReceiveMessageBytes),
    "grpc.max_send_message_length": checkLimit("max send message bytes", limits.maxSendMessageBytes),
    "grpc.max_concurrent_streams": checkLimit("max concurrent streams", limits.maxConcurrentStreams),
    ...KEEPALIVE,
  });
  server.addService(preEncodedResponses(tolerantDefinition(ContainerServiceService)), containerService(engine, log));
  server.addService(tolerantDefinition(ImageServiceService), imageService(engine, log));
  // The Kubernetes CRI on the same socket, as CRI-O and containerd serve it.
  const criRuntime = tolerantDefinition(CriRuntimeServiceService);
  server.addService(criRuntime, criRuntimeService(engine, criRuntime, opts.streaming, log));
  const criImages = tolerantDefinition(CriImageServiceService);
  server.addService(criImages, criImageService(engine, criImages, log));
  const health = new LazyHealth({ "": "SERVING", "hull.v1.ContainerService": "SERVING", "hull.v1.ImageService": "SERVING" });
  health.addToServer(server);
  addLazyReflection(server, reflectionDefinition);

  const listener = await listenUnix(server, opts.socket, log);
  let tcpAddress: string | undefined;
  try {
    await setSocketOwnership(opts.socket, opts.socketGroup);
    if (opts.tcp) {
      const { host, port, credentials } = opts.tcp;
      const bound = await new Promise<number>((resolve, reject) => {
        server.bindAsync(bindAddress(host, port), credentials, (err, p) =>
          err
            ? reject(new HullError("UNAVAILABLE", `cannot listen on --listen-tcp ${bindAddress(host, port)}: ${err.message}`, {}, { cause: err }))
            : resolve(p),
        );
      });
      tcpAddress = bindAddress(host, bound);
    }
  } catch (err) {
    listener.close();
    server.forceShutdown();
    throw err;
  }
  return {
    server,
    health,
    tcpAddress,
    async shutdown(graceMs: number) {
      listener.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          // Long waits (WaitContainer, streams) would hold shutdown forever.
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
