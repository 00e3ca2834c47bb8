// The streaming server's protocols, loaded at the first upgrade (server.ts
// imports this module then): SPDY/3.1 and WebSocket (ws), remotecommand's
// streams over each, and exec, attach and port forward on them. A daemon no
// client streams from never pays their ~5 MiB of resident memory; the
// kubelet's streaming server is likewise idle until a URL is redeemed.
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer, createWebSocketStream, type WebSocket } from "ws";
import type { Engine } from "../../engine/engine.js";
import type { PortForwardNamespace } from "../../ops/pods/streaming.js";
import { HullError } from "../../errors.js";
import { SpdySession } from "./spdy/session.js";
import type { StreamTarget } from "./tokens.js";
import { SPDY_COMMAND_PROTOCOLS, WEBSOCKET_COMMAND_PROTOCOLS, headerValues, negotiateProtocol, type CommandStreams } from "./remotecommand.js";
import { spdyCommandStreams } from "./spdy-streams.js";
import { TUNNELED_PORT_FORWARD_PROTOCOL, websocketCommandStreams } from "./websocket.js";
import { PORT_FORWARD_PROTOCOL, servePortForward } from "./portforward.js";
import { serveExec } from "./exec.js";
import { serveAttach } from "./attach.js";
import { refuse } from "./refuse.js";

/** Largest WebSocket message accepted (client-go writes at most 32 KiB of stdin per message). */
const MAX_WS_MESSAGE = 16 * 1024 * 1024;

/** One redeemed streaming URL's transport and request; the listener (server.ts) has checked the path, method and token. */
export class StreamTransports {
  /** The subprotocol upgradeWebSocket() chose for each WebSocket request. */
  private readonly chosen = new WeakMap<IncomingMessage, string>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => this.chosen.get(req) ?? false,
  });

  constructor(
    private readonly engine: Engine,
    private readonly idleTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** Ends every WebSocket connection (the listener destroys the sockets under them). */
  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }

  async upgradeSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamTarget, pod: PortForwardNamespace | undefined): Promise<void> {
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
    const session = new SpdySession(socket, { role: "server", idleTimeoutMs: this.idleTimeoutMs });
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

  upgradeWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamTarget, pod: PortForwardNamespace | undefined): void {
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
      (socket as Socket).setTimeout?.(this.idleTimeoutMs, () => ws.close(1000, "idle"));
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
