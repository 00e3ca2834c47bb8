// The CRI streaming server: its own HTTP listener (--streaming-address,
// loopback by default, as CRI-O and containerd keep theirs), where the URLs
// that Exec, Attach and PortForward answer lead. A connection redeems its
// token (tokens.ts) and is upgraded to SPDY/3.1 or WebSocket; the request it
// names then runs over that transport (exec.ts, attach.ts, portforward.ts).
// An unknown, used or expired token is 404, before any upgrade.
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer, createWebSocketStream, type WebSocket } from "ws";
import type { Engine } from "../../engine/engine.js";
import { portForwardNamespace, type PortForwardNamespace } from "../../ops/pods/streaming.js";
import { asHullError } from "../status.js";
import { HullError } from "../../errors.js";
import { SpdySession } from "./spdy/session.js";
import { RequestCache, type StreamTarget } from "./tokens.js";
import { SPDY_COMMAND_PROTOCOLS, WEBSOCKET_COMMAND_PROTOCOLS, headerValues, negotiateProtocol, type CommandStreams } from "./remotecommand.js";
import { spdyCommandStreams } from "./spdy-streams.js";
import { TUNNELED_PORT_FORWARD_PROTOCOL, websocketCommandStreams } from "./websocket.js";
import { PORT_FORWARD_PROTOCOL, servePortForward } from "./portforward.js";
import { serveExec } from "./exec.js";
import { serveAttach } from "./attach.js";

/** The kubelet's default streamIdleTimeout. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4 * 3600 * 1000;
const PATH = /^\/(exec|attach|portforward)\/([^/?]+)$/;
/** Largest WebSocket message accepted (client-go writes at most 32 KiB of stdin per message). */
const MAX_WS_MESSAGE = 16 * 1024 * 1024;

export interface StreamingOptions {
  host: string;
  port: number;
  /** Mutual TLS: the server's chain and key, and the CA every client's certificate must chain to. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  idleTimeoutMs: number;
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  500: "Internal Server Error",
};

function refuse(socket: Duplex, code: number, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${code} ${REASONS[code] ?? "Error"}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function httpCode(err: HullError): number {
  if (err.reason.endsWith("_NOT_FOUND")) return 404;
  if (err.reason === "CONTAINER_STATE_INVALID") return 409;
  return err.reason === "INVALID_ARGUMENT" ? 400 : 500;
}

export class StreamingServer {
  readonly requests = new RequestCache();
  private readonly sockets = new Set<Duplex>();
  /** The subprotocol upgrade() chose for each WebSocket request. */
  private readonly chosen = new WeakMap<IncomingMessage, string>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => this.chosen.get(req) ?? false,
  });
  private baseUrl = "";

  private constructor(
    private readonly engine: Engine,
    private readonly opts: StreamingOptions,
    private readonly server: Server,
    private readonly log: Logger,
  ) {}

  static async start(engine: Engine, opts: StreamingOptions, log: Logger): Promise<StreamingServer> {
    const server = opts.tls
      ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: true })
      : createHttpServer();
    const s = new StreamingServer(engine, opts, server, log);
    server.on("request", (req, res) => {
      const known = PATH.test(new URL(req.url ?? "/", "http://hulld").pathname);
      const body = known ? "a streaming URL needs an upgraded connection (SPDY/3.1 or WebSocket)\n" : "Not Found\n";
      res.writeHead(known ? 400 : 404, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      s.sockets.add(socket);
      socket.once("close", () => s.sockets.delete(socket));
      socket.on("error", (err) => log.debug({ err }, "streaming connection error"));
      s.upgrade(req, socket, head).catch((err: unknown) => {
        log.error({ err, url: req.url?.replace(/\/[^/]+$/, "/…") }, "streaming connection failed");
        socket.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    s.baseUrl = `${opts.tls ? "https" : "http"}://${host}:${address.port}`;
    return s;
  }

  /** host:port as bound (port 0 resolved). */
  get address(): string {
    return this.baseUrl.replace(/^https?:\/\//, "");
  }

  /** A single-use URL for target. */
  url(target: StreamTarget): string {
    return `${this.baseUrl}/${target.kind}/${this.requests.insert(target)}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const match = PATH.exec(new URL(req.url ?? "/", "http://hulld").pathname);
    if (match === null) return refuse(socket, 404, "Not Found");
    if (req.method !== "GET" && req.method !== "POST") return refuse(socket, 405, `${req.method ?? ""} is not allowed: use GET or POST`);
    const target = this.requests.consume(match[2] ?? "");
    if (target === undefined || target.kind !== match[1]) return refuse(socket, 404, "Not Found");
    let pod: PortForwardNamespace | undefined;
    try {
      if (target.kind === "portforward") pod = await portForwardNamespace(this.engine, target.podId);
    } catch (err) {
      const e = asHullError(err);
      return refuse(socket, httpCode(e), e.message);
    }
    const transport = (req.headers.upgrade ?? "").toLowerCase();
    if (transport === "websocket") return this.upgradeWebSocket(req, socket, head, target, pod);
    if (transport === "spdy/3.1") return this.upgradeSpdy(req, socket, head, target, pod);
    return refuse(socket, 400, `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? "")}: SPDY/3.1 or websocket`);
  }

  private async upgradeSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamTarget, pod: PortForwardNamespace | undefined): Promise<void> {
    const offered = headerValues(req.headers["x-stream-protocol-version"]);
    const supported = target.kind === "portforward" ? [PORT_FORWARD_PROTOCOL] : SPDY_COMMAND_PROTOCOLS;
    const protocol = target.kind === "portforward" && offered.length === 0 ? PORT_FORWARD_PROTOCOL : negotiateProtocol(offered, supported);
    if (protocol === undefined) {
      return refuse(
        socket,
        403,
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], server supports [${supported.join(" ")}]`,
      );
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    (socket as Socket).setNoDelay?.(true);
    const session = new SpdySession(socket, { role: "server", idleTimeoutMs: this.opts.idleTimeoutMs });
    session.on("error", (err) => this.log.debug({ err }, "streaming SPDY session error"));
    if (target.kind === "portforward") return servePortForward(session, this.portForwardPod(target.podId, pod), this.log);
    let streams: CommandStreams;
    try {
      streams = await spdyCommandStreams(session, protocol, target);
    } catch (err) {
      this.log.debug({ err }, "streaming: the client did not open its streams");
      await session.close();
      return;
    }
    await this.run(target, streams);
  }

  private upgradeWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamTarget, pod: PortForwardNamespace | undefined): void {
    const offered = headerValues(req.headers["sec-websocket-protocol"]);
    const supported: readonly string[] = target.kind === "portforward" ? [TUNNELED_PORT_FORWARD_PROTOCOL] : WEBSOCKET_COMMAND_PROTOCOLS;
    const protocol = offered.find((p) => supported.includes(p));
    if (protocol === undefined)
      return refuse(socket, 400, `unable to upgrade: no WebSocket subprotocol of [${supported.join(" ")}] among [${offered.join(" ")}]`);
    // ws refuses subprotocols that are not RFC 7230 tokens, and the tunnel's
    // has a "/" (gorilla/websocket, client-go's, sends it anyway): ws is shown a
    // plain token, and the chosen protocol is what the answer names.
    req.headers["sec-websocket-protocol"] = "k8s";
    this.chosen.set(req, protocol);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      // A malformed frame (a reserved opcode, an oversized message) is the client's error: ws closes the connection.
      ws.on("error", (err) => this.log.debug({ err }, "streaming WebSocket error"));
      (socket as Socket).setTimeout?.(this.opts.idleTimeoutMs, () => ws.close(1000, "idle"));
      if (target.kind === "portforward") {
        const session = new SpdySession(createWebSocketStream(ws), { role: "server", idleTimeoutMs: 0 });
        session.on("error", (err) => this.log.debug({ err }, "streaming tunnelled SPDY session error"));
        void servePortForward(session, this.portForwardPod(target.podId, pod), this.log);
        return;
      }
      const streams = websocketCommandStreams(ws, protocol, target, (err) => this.log.debug({ err }, "streaming WebSocket protocol error"));
      this.run(target, streams).catch((err: unknown) => {
        this.log.error({ err }, "streaming WebSocket command failed");
        ws.terminate();
      });
    });
  }

  private portForwardPod(podId: string, ns: PortForwardNamespace | undefined): { id: string; netns?: string; socketDir: string } {
    return { id: podId, ...(ns?.netns !== undefined ? { netns: ns.netns } : {}), socketDir: this.engine.paths.socketDir };
  }

  private async run(target: StreamTarget, streams: CommandStreams): Promise<void> {
    if (target.kind === "exec") return serveExec(this.engine, target, streams, this.log);
    if (target.kind === "attach") return serveAttach(this.engine, target, streams);
    throw new HullError("INTERNAL", "port forward has no command streams");
  }
}
