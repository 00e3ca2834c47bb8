// The gRPC server on a unix socket: ContainerService, ImageService, health
// and reflection (so grpcurl / buf curl need nothing but the socket).
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { createConnection } from "node:net";
import { chmod, mkdir, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { ContainerServiceService } from "../gen/hull/v1/container.js";
import { DESCRIPTOR_SET_BASE64 } from "../gen/descriptor-set.js";
import { ImageServiceService } from "../gen/hull/v1/image.js";
import { imageService } from "./image-handler.js";
import { HullError } from "../errors.js";
import type { Engine } from "../lifecycle/engine.js";
import { containerService } from "./container-service.js";

/**
 * Reflection serves the real descriptor files (with their imports), taken
 * from the FileDescriptorSet that `npm run generate` embeds.
 */
function reflectionDefinition(): PackageDefinition {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(DESCRIPTOR_SET_BASE64, "base64"));
  const fileDescriptorProtos = set.file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  // Reflection reads only fileDescriptorProtos; one entry carries every file.
  return { "hull.v1": { format: "Protocol Buffer 3 EnumDescriptorProto", type: {}, fileDescriptorProtos } };
}


/** Refuses to take over a socket another live process still serves. */
export async function claimSocketPath(socket: string): Promise<void> {
  await mkdir(dirname(socket), { recursive: true, mode: 0o750 });
  const exists = await stat(socket).then(() => true, () => false);
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

export interface RunningServer {
  server: Server;
  health: HealthImplementation;
}

export async function startServer(engine: Engine, socket: string, log: Logger): Promise<RunningServer> {
  const server = new Server({
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    "grpc.max_concurrent_streams": 256,
  });
  server.addService(ContainerServiceService, containerService(engine, log));
  server.addService(ImageServiceService, imageService(engine, log));
  const health = new HealthImplementation({ "": "SERVING", "hull.v1.ContainerService": "SERVING", "hull.v1.ImageService": "SERVING" });
  health.addToServer(server);
  new ReflectionService(reflectionDefinition()).addToServer(server);

  await claimSocketPath(socket);
  // The socket is born 0660 (never briefly world-writable), then chmod makes it explicit.
  const previous = process.umask(0o117);
  try {
    await new Promise<number>((resolve, reject) => {
      server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
  } finally {
    process.umask(previous);
  }
  await chmod(socket, 0o660);
  return { server, health };
}
