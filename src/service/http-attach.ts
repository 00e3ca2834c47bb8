// HTTP attach (the seed's HTTPAttach): an optional HTTP listener on a second
// unix socket serving Docker's attach endpoint,
//   POST [/v1.xx][/libpod]/containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=
// with the connection upgraded (101) and then carrying Docker's multiplexed
// framing for non-tty containers (8-byte header: stream byte, three zero
// bytes, uint32 big-endian length) or raw bytes for tty ones. Stdin is what
// the client sends after the upgrade. It runs the same attach session as the
// gRPC AttachContainer (src/ops/attach.ts) through an AttachPeer.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { chmod } from "node:fs/promises";
import type { Logger } from "pino";
import { OutputStream, type AttachContainerRequest, type AttachContainerResponse } from "../gen/hull/v1/container.js";
import { HullError, invalidArgument } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import type { AttachOptions } from "../domain/attach-options.js";
import { attachContainer, type AttachPeer } from "../ops/attach.js";
import { parseAttachOpen, parseAttachQuery, type AttachQuery } from "../validation/requests.js";
import { checkOperation } from "../statemachine/states.js";
import { toContainer } from "./convert.js";
import { claimSocketPath } from "./server.js";
import { asHullError } from "./status.js";

const ATTACH_PATH = /^(?:\/v\d+(?:\.\d+)*)?(?:\/libpod)?\/containers\/([^/]+)\/attach$/;
const STDIN_HIGH_WATER = 16;

/** HTTP status for a refusal made before the connection is upgraded. */
const HTTP_STATUS: Partial<Record<string, number>> = {
  CONTAINER_NOT_FOUND: 404,
  INVALID_ARGUMENT: 400,
  AMBIGUOUS_ID: 400,
  CONTAINER_STATE_INVALID: 409,
  DEPENDENCY_NOT_RUNNING: 409,
};

export type { AttachQuery };

/** Routes the request line and checks its query (parseAttachQuery); pure. */
export function parseAttachRequest(method: string, rawUrl: string): AttachQuery {
  const url = new URL(rawUrl, "http://hulld");
  const match = ATTACH_PATH.exec(url.pathname);
  if (method !== "POST" || !match?.[1]) throw invalidArgument("path", `expected POST /containers/{id}/attach, got ${method} ${url.pathname.slice(0, 80)}`);
  return parseAttachQuery(match[1], url.searchParams);
}

/** The attach a query asks for, by AttachContainer's rules (parseAttachOpen); none of the streams named means all, as Docker does. */
function attachOptions(query: AttachQuery): AttachOptions {
  return parseAttachOpen({
    id: query.ref,
    stdin: query.stdin,
    stdout: query.stdout || (!query.stdin && !query.stderr),
    stderr: query.stderr || (!query.stdin && !query.stdout),
    detachKeys: query.detachKeys,
    logs: query.logs,
    start: false,
    recursive: false,
    stream: query.stream,
  });
}

/** Docker's stream multiplexing header + payload. */
export function dockerFrame(stream: OutputStream, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream === OutputStream.OUTPUT_STREAM_STDERR ? 2 : 1;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** The client's bytes after the upgrade, as attach messages: stdin chunks, then close. */
function connectionMessages(socket: Duplex, head: Buffer): AsyncIterator<AttachContainerRequest> {
  const queue: AttachContainerRequest[] = [];
  if (head.length > 0) queue.push({ message: { $case: "stdin", value: head } });
  let ended = false;
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    queue.push({ message: { $case: "stdin", value: chunk } });
    if (queue.length >= STDIN_HIGH_WATER) socket.pause();
    wake?.();
  });
  const finish = (): void => {
    if (ended) return;
    ended = true;
    queue.push({ message: { $case: "closeStdin", value: true } });
    wake?.();
  };
  socket.on("end", finish);
  socket.on("close", finish);
  return {
    async next(): Promise<IteratorResult<AttachContainerRequest>> {
      for (;;) {
        const msg = queue.shift();
        if (msg !== undefined) {
          if (queue.length < STDIN_HIGH_WATER / 2) socket.resume();
          return { value: msg, done: false };
        }
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
}

function refuse(socket: Duplex, err: HullError): void {
  const code = HTTP_STATUS[err.reason] ?? 500;
  const body = `${JSON.stringify({ cause: err.reason, message: err.message, response: code })}\n`;
  socket.end(
    `HTTP/1.1 ${code} ${code === 404 ? "Not Found" : code === 409 ? "Conflict" : code === 400 ? "Bad Request" : "Internal Server Error"}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

async function serveAttach(engine: Engine, log: Logger, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  let query: AttachQuery;
  let opts: AttachOptions;
  let tty: boolean;
  try {
    // Every refusal of the request itself comes before the upgrade, as a 400.
    query = parseAttachRequest(req.method ?? "", req.url ?? "");
    opts = attachOptions(query);
    const id = await engine.resolve(query.ref);
    const rec = await engine.store.getContainer(id);
    if (!rec) throw new HullError("CONTAINER_NOT_FOUND", `no container with name or id "${query.ref}" found`, { container: query.ref });
    checkOperation(rec.id, rec.state, "attach");
    tty = rec.config.tty;
  } catch (err) {
    refuse(socket, asHullError(err));
    return;
  }
  socket.write("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
  const abort = new AbortController();
  socket.on("close", () => abort.abort());
  socket.on("error", () => abort.abort());
  const peer: AttachPeer = {
    messages: connectionMessages(socket, head),
    signal: abort.signal,
    describe: toContainer,
    write: (msg: AttachContainerResponse, done: () => void) => {
      if (socket.destroyed || socket.writableEnded) return done();
      const m = msg.message;
      if (m?.$case !== "output") return done();
      const bytes = tty ? m.value.data : dockerFrame(m.value.stream, m.value.data);
      if (socket.write(bytes)) done();
      else socket.once("drain", done);
    },
  };
  try {
    await attachContainer(engine, peer, opts);
    socket.end();
  } catch (err) {
    const e = asHullError(err);
    if (!abort.signal.aborted) {
      log.debug({ err: e.message, container: query.ref }, "http attach ended with an error");
      // After the upgrade the only channel left is the connection itself (as the seed does).
      socket.end(`Error: ${e.message}\n`);
    }
  }
}

/** Starts the HTTP attach listener on a unix socket (0660). */
export async function startHttpAttach(engine: Engine, socketPath: string, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const body = "attach needs an upgraded connection (Connection: Upgrade, Upgrade: tcp)\n";
    res.writeHead(req.url && ATTACH_PATH.test(new URL(req.url, "http://hulld").pathname) ? 400 : 404, {
      "Content-Type": "text/plain",
      "Content-Length": Buffer.byteLength(body),
    });
    res.end(body);
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    serveAttach(engine, log, req, socket, head).catch((err: unknown) => {
      log.error({ err }, "http attach failed");
      socket.destroy();
    });
  });
  await claimSocketPath(socketPath);
  const previous = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  await chmod(socketPath, 0o660);
  return server;
}
