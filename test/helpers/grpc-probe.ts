// A tiny client run as another user (setpriv) by the transport-security test:
// connects to a unix socket, then calls ListContainers, and prints one JSON
// line: its pid, the raw connect outcome and the gRPC outcome.
// Usage: node grpc-probe.js SOCKET_PATH
import { createConnection } from "node:net";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ContainerServiceClient, ListContainersRequest } from "../../src/gen/hull/v1/container.js";

export interface ProbeResult {
  pid: number;
  uid: number;
  /** "ok" or the errno code of a plain connect(2) to the socket. */
  connect: string;
  /** The gRPC status code of ListContainers (0 = OK) and its details. */
  grpcCode: number;
  grpcDetails: string;
}

function rawConnect(path: string): Promise<string> {
  return new Promise((resolve) => {
    const conn = createConnection(path);
    conn.once("connect", () => {
      conn.destroy();
      resolve("ok");
    });
    conn.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function listContainers(path: string): Promise<{ code: number; details: string }> {
  const client = new ContainerServiceClient(`unix:${path}`, credentials.createInsecure());
  return new Promise((resolve) => {
    client.listContainers(ListContainersRequest.fromPartial({}), new Metadata(), { deadline: new Date(Date.now() + 15_000) }, (err: ServiceError | null) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" });
    });
  });
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) throw new Error("usage: grpc-probe SOCKET_PATH");
  const connect = await rawConnect(path);
  const grpc = await listContainers(path);
  const result: ProbeResult = { pid: process.pid, uid: process.getuid?.() ?? -1, connect, grpcCode: grpc.code, grpcDetails: grpc.details };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`grpc-probe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
