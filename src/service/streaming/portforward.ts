// CRI PortForward over SPDY (protocol portforward.k8s.io, client-go's
// tools/portforward; over WebSocket the same SPDY bytes ride a tunnel). For
// each local connection the client opens two streams with the same
// requestID header: an error stream, then a data stream naming the port.
// The pair is connected to 127.0.0.1:PORT inside the pod's network
// namespace (src/network/port-dial.ts); a failure is written to the error
// stream in the kubelet's words, which the client prints.
import type { Logger } from "pino";
import { connectPodPort, type PortConnection } from "../../network/port-dial.js";
import type { SpdySession, SpdyStream } from "./spdy/session.js";
import { RstStatus } from "./spdy/frames.js";
import { STREAM_CREATION_TIMEOUT_MS, endWritable } from "./spdy-streams.js";

export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** The pair a stream belongs to: its requestID header, or for clients before it, the data stream's id less two (as the kubelet derives it). */
export function requestIdOf(headers: Record<string, string>, streamId: number): string {
  const given = headers.requestid;
  if (given !== undefined && given !== "") return given;
  return String(headers.streamtype === "data" ? streamId - 2 : streamId);
}

export function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Serves one port-forward connection until the client closes it. */
export function servePortForward(session: SpdySession, pod: { id: string; netns?: string; socketDir: string }, log: Logger): Promise<void> {
  const pairs = new Map<string, Pair>();
  const connections = new Set<PortConnection>();
  session.on("stream", (s: SpdyStream) => {
    const type = s.headers.streamtype;
    if (type !== "error" && type !== "data") {
      s.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    s.reply({});
    s.on("error", () => undefined);
    const id = requestIdOf(s.headers, s.id);
    let pair = pairs.get(id);
    if (pair === undefined) {
      const created: Pair = {
        timer: setTimeout(() => {
          pairs.delete(id);
          created.error?.reset(RstStatus.CANCEL);
          created.data?.reset(RstStatus.CANCEL);
          log.debug({ pod: pod.id, request: id }, "port forward: the client never opened both streams");
        }, STREAM_CREATION_TIMEOUT_MS),
      };
      pair = created;
      pairs.set(id, pair);
    }
    if (pair[type] !== undefined) {
      s.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    pair[type] = s;
    if (pair.error !== undefined && pair.data !== undefined) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      forward(pair.error, pair.data, pod, connections);
    }
  });
  return new Promise<void>((resolve) => {
    session.once("close", () => {
      for (const p of pairs.values()) clearTimeout(p.timer);
      for (const c of connections) c.destroy();
      resolve();
    });
  });
}

function forward(error: SpdyStream, data: SpdyStream, pod: { id: string; netns?: string; socketDir: string }, connections: Set<PortConnection>): void {
  // Nothing comes from the client on the error stream but its end.
  error.resume();
  const fail = (message: string): void => {
    if (!error.destroyed) error.write(message);
    data.resume();
    void Promise.all([endWritable(error), endWritable(data)]);
  };
  const port = parsePort(data.headers.port);
  if (port === undefined) return fail(`invalid port ${JSON.stringify(data.headers.port ?? "")}: a port forward names a port in 1..65535`);
  // Held until the connection is up: what the client sends first is not lost.
  data.pause();
  connectPodPort(pod.netns, port, pod.socketDir).then(
    (conn) => {
      if (data.destroyed) return conn.destroy();
      connections.add(conn);
      data.pipe(conn.socket);
      conn.socket.pipe(data);
      conn.socket.on("error", () => undefined);
      // A client that resets its stream is gone: so is the connection.
      data.once("close", () => conn.destroy());
      // The port's end is the connection's, for client-go, which reads the error stream to its end next
      // (the kubelet closes both once the copy from the port is done); the client's side may still send.
      conn.socket.once("end", () => void endWritable(error));
      conn.socket.once("close", () => {
        connections.delete(conn);
        void endWritable(error);
      });
    },
    (err: unknown) => fail(`error forwarding port ${port} to pod ${pod.id}, uid : ${err instanceof Error ? err.message : String(err)}`),
  );
}
