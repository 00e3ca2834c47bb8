// The CRI streaming server: its own HTTP listener (--streaming-address,
// loopback by default, as CRI-O and containerd keep theirs), where the URLs
// that Exec, Attach and PortForward answer lead. A connection redeems its
// token (tokens.ts) and is upgraded to SPDY/3.1 or WebSocket; the request it
// names then runs over that transport (exec.ts, attach.ts, portforward.ts).
// An unknown, used or expired token is 404, before any upgrade.
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { Engine } from "../../engine/engine.js";
import { portForwardNamespace, type PortForwardNamespace } from "../../ops/pods/streaming.js";
import { asHullError } from "../status.js";
import type { HullError } from "../../errors.js";
import { RequestCache, type StreamTarget } from "./tokens.js";
import { refuse } from "./refuse.js";
// Type only: the module itself is imported at the first upgrade (transports()).
import type { StreamTransports } from "./transports.js";

/** The kubelet's default streamIdleTimeout. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4 * 3600 * 1000;
const PATH = /^\/(exec|attach|portforward)\/([^/?]+)$/;

export interface StreamingOptions {
  host: string;
  port: number;
  /** Mutual TLS: the server's chain and key, and the CA every client's certificate must chain to. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  idleTimeoutMs: number;
}

function httpCode(err: HullError): number {
  if (err.reason.endsWith("_NOT_FOUND")) return 404;
  if (err.reason === "CONTAINER_STATE_INVALID") return 409;
  return err.reason === "INVALID_ARGUMENT" ? 400 : 500;
}

export class StreamingServer {
  readonly requests = new RequestCache();
  private readonly sockets = new Set<Duplex>();
  private loading: Promise<StreamTransports> | undefined;
  private loaded: StreamTransports | undefined;
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
    this.loaded?.close();
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
    if (transport === "websocket") return (await this.transports()).upgradeWebSocket(req, socket, head, target, pod);
    if (transport === "spdy/3.1") return (await this.transports()).upgradeSpdy(req, socket, head, target, pod);
    return refuse(socket, 400, `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? "")}: SPDY/3.1 or websocket`);
  }

  /** The protocol layer, imported at the first upgrade and kept. */
  private transports(): Promise<StreamTransports> {
    this.loading ??= import("./transports.js").then((m) => (this.loaded = new m.StreamTransports(this.engine, this.opts.idleTimeoutMs, this.log)));
    return this.loading;
  }
}
