// Node clients of hulld's CRI streaming server, as client-go speaks to it:
// remotecommand over SPDY (streams by streamType, error stream last read)
// and over WebSocket (v5 channels with the close signal), and port forward
// over SPDY (an error and a data stream per connection, paired by
// requestID), directly or tunnelled in a WebSocket.
import { request } from "node:http";
import type { Socket } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { Duplex, type Readable } from "node:stream";
import { WebSocket } from "ws";
import { SpdySession, type SpdyStream } from "../../src/service/streaming/spdy/session.js";

export interface Refusal {
  status: number;
  body: string;
}

/** POSTs url with an SPDY/3.1 upgrade offering protocols; the session, or the HTTP refusal. */
export function upgradeSpdy(url: string, protocols: string[]): Promise<{ session: SpdySession; protocol: string; socket: Socket } | Refusal> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { Connection: "Upgrade", Upgrade: "SPDY/3.1", "X-Stream-Protocol-Version": protocols } });
    req.on("upgrade", (res, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      resolve({ session: new SpdySession(socket, { role: "client" }), protocol: String(res.headers["x-stream-protocol-version"] ?? ""), socket });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

export function isRefusal(r: object): r is Refusal {
  return "status" in r;
}

export function collect(s: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on("data", (c: Buffer) => parts.push(c));
    s.on("end", () => resolve(Buffer.concat(parts)));
    s.on("error", reject);
  });
}

export interface CommandResult {
  stdout: Buffer;
  stderr: Buffer;
  /** What the error stream carried (v4: a JSON Status). */
  error: string;
}

/** What a test may do while the command runs. */
export interface CommandIo {
  write(data: Buffer | string): Promise<void>;
  resize(width: number, height: number): void;
  /** stdout so far. */
  output(): string;
}

export interface CommandOptions {
  /** Sent on stdin, which then ends. */
  stdin?: Buffer;
  /** Opens stdin and runs this with the streams; stdin ends when it resolves. */
  interact?: (io: CommandIo) => Promise<void>;
  tty?: boolean;
  /** Sent on the resize stream before anything else (the client's initial size). */
  size?: { width: number; height: number };
  /** false: open no stderr stream. */
  stderr?: boolean;
}

async function writeAll(s: NodeJS.WritableStream, data: Buffer, chunk = 32 * 1024): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    if (!s.write(data.subarray(off, off + chunk))) await new Promise((r) => s.once("drain", r));
  }
}

/** Runs a remotecommand exchange over SPDY on url (exec or attach), as client-go's v4 protocol does. */
export async function spdyCommand(url: string, opts: CommandOptions = {}): Promise<CommandResult & { protocol: string }> {
  const up = await upgradeSpdy(url, ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]);
  if (isRefusal(up)) throw new Error(`upgrade refused: ${up.status} ${up.body}`);
  const { session, protocol } = up;
  try {
    const wantStdin = opts.stdin !== undefined || opts.interact !== undefined;
    const error = await session.openStream({ streamType: "error" });
    const stdin = wantStdin ? await session.openStream({ streamType: "stdin" }) : undefined;
    const stdout = await session.openStream({ streamType: "stdout" });
    const stderr = opts.tty || opts.stderr === false ? undefined : await session.openStream({ streamType: "stderr" });
    const resize = opts.tty ? await session.openStream({ streamType: "resize" }) : undefined;
    error.end();
    stdout.end();
    stderr?.end();
    let seen = "";
    stdout.on("data", (c: Buffer) => (seen += c.toString("latin1")));
    const outputs = Promise.all([collect(stdout), stderr ? collect(stderr) : Promise.resolve(Buffer.alloc(0)), collect(error)]);
    const sendSize = (width: number, height: number): void => void resize?.write(`${JSON.stringify({ Width: width, Height: height })}\n`);
    if (opts.size) sendSize(opts.size.width, opts.size.height);
    if (stdin) {
      if (opts.stdin) await writeAll(stdin, opts.stdin);
      await opts.interact?.({ write: (d) => writeAll(stdin, Buffer.from(d)), resize: sendSize, output: () => seen });
      stdin.end();
    }
    const [out, err, status] = await outputs;
    resize?.end();
    return { stdout: out, stderr: err, error: status.toString(), protocol };
  } finally {
    await session.close();
  }
}

/** The same over WebSocket (v5.channel.k8s.io unless told otherwise). */
export function wsCommand(url: string, opts: CommandOptions & { protocol?: string } = {}): Promise<CommandResult & { protocol: string }> {
  const ws = new WebSocket(url.replace(/^http/, "ws"), [opts.protocol ?? "v5.channel.k8s.io"]);
  const parts: Buffer[][] = [[], [], [], [], []];
  const send = (channel: number, data: Buffer): Promise<void> =>
    new Promise<void>((r, j) => ws.send(Buffer.concat([Buffer.from([channel]), data]), (e) => (e ? j(e) : r())));
  const sendSize = (width: number, height: number): void => void send(4, Buffer.from(JSON.stringify({ Width: width, Height: height })));
  return new Promise((resolve, reject) => {
    ws.on("error", reject);
    ws.on("unexpected-response", (_req, res) => reject(new Error(`websocket refused: ${res.statusCode ?? 0}`)));
    ws.on("message", (data: Buffer) => {
      const ch = data[0] ?? 255;
      if (ch <= 4) parts[ch]?.push(data.subarray(1));
    });
    ws.on("open", () => {
      void (async () => {
        if (opts.size) sendSize(opts.size.width, opts.size.height);
        const write = async (d: Buffer | string): Promise<void> => {
          const data = Buffer.from(d);
          for (let off = 0; off < data.length; off += 32 * 1024) await send(0, data.subarray(off, off + 32 * 1024));
        };
        if (opts.stdin !== undefined || opts.interact !== undefined) {
          if (opts.stdin) await write(opts.stdin);
          await opts.interact?.({ write, resize: sendSize, output: () => Buffer.concat(parts[1] ?? []).toString("latin1") });
          ws.send(Buffer.from([255, 0]));
        }
      })().catch(reject);
    });
    ws.on("close", () =>
      resolve({
        stdout: Buffer.concat(parts[1] ?? []),
        stderr: Buffer.concat(parts[2] ?? []),
        error: Buffer.concat(parts[3] ?? []).toString(),
        protocol: ws.protocol,
      }),
    );
  });
}

/** A port-forward client: connect(port) opens one forwarded connection. */
export interface PortForwardClient {
  connect(port: number): Promise<{ data: SpdyStream; error: SpdyStream }>;
  close(): Promise<void>;
  readonly session: SpdySession;
}

function portForwardClient(session: SpdySession): PortForwardClient {
  let next = 0;
  return {
    session,
    async connect(port: number) {
      const requestID = String(next++);
      const error = await session.openStream({ streamType: "error", port: String(port), requestID });
      error.end();
      const data = await session.openStream({ streamType: "data", port: String(port), requestID });
      return { data, error };
    },
    close: () => session.close(),
  };
}

export async function spdyPortForward(url: string): Promise<PortForwardClient> {
  const up = await upgradeSpdy(url, ["portforward.k8s.io"]);
  if (isRefusal(up)) throw new Error(`upgrade refused: ${up.status} ${up.body}`);
  return portForwardClient(up.session);
}

/**
 * A minimal WebSocket client connection as a Duplex of binary messages: ws
 * (like every RFC-strict client) refuses the tunnel's subprotocol, which has
 * a "/" in it, while client-go's gorilla/websocket sends it as it is.
 */
export function rawWebSocket(url: string, protocol: string): Promise<Duplex> {
  const key = randomBytes(16).toString("base64");
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": protocol },
    });
    req.on("response", (res) => reject(new Error(`websocket refused: ${res.statusCode ?? 0}`)));
    req.on("error", reject);
    req.on("upgrade", (res, socket, head) => {
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      if (res.headers["sec-websocket-accept"] !== accept) return reject(new Error("bad Sec-WebSocket-Accept"));
      if (res.headers["sec-websocket-protocol"] !== protocol) return reject(new Error(`server chose ${String(res.headers["sec-websocket-protocol"])}`));
      let pending = head;
      const frame = (opcode: number, payload: Buffer): Buffer => {
        const len = payload.length;
        const header = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
        if (len >= 126) {
          header[0] = 0x80 | opcode;
          header[1] = 0x80 | (len < 65536 ? 126 : 127);
          if (len < 65536) header.writeUInt16BE(len, 2);
          else header.writeBigUInt64BE(BigInt(len), 2);
        }
        const mask = randomBytes(4);
        const masked = Buffer.from(payload);
        for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] ?? 0) ^ (mask[i % 4] ?? 0);
        return Buffer.concat([header, mask, masked]);
      };
      const duplex = new Duplex({
        write(chunk: Buffer, _enc, cb) {
          socket.write(frame(2, chunk), cb);
        },
        final(cb) {
          socket.end(frame(8, Buffer.from([0x03, 0xe8])), () => cb());
        },
        read() {
          socket.resume();
        },
      });
      const parse = (): void => {
        for (;;) {
          if (pending.length < 2) return;
          const opcode = (pending[0] ?? 0) & 0x0f;
          let len = (pending[1] ?? 0) & 0x7f;
          let off = 2;
          if (len === 126) {
            if (pending.length < 4) return;
            len = pending.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (pending.length < 10) return;
            len = Number(pending.readBigUInt64BE(2));
            off = 10;
          }
          if (pending.length < off + len) return;
          const payload = pending.subarray(off, off + len);
          pending = pending.subarray(off + len);
          if (opcode === 2 || opcode === 0) {
            if (!duplex.push(Buffer.from(payload))) socket.pause();
          } else if (opcode === 8) duplex.push(null);
          else if (opcode === 9) socket.write(frame(10, payload));
        }
      };
      socket.on("data", (c: Buffer) => {
        pending = Buffer.concat([pending, c]);
        parse();
      });
      socket.on("close", () => duplex.destroy());
      parse();
      resolve(duplex);
    });
    req.end();
  });
}

/** Port forward with SPDY tunnelled through a WebSocket (client-go's tunneling dialer). */
export async function wsPortForward(url: string): Promise<PortForwardClient> {
  const tunnel = await rawWebSocket(url, "SPDY/3.1+portforward.k8s.io");
  return portForwardClient(new SpdySession(tunnel, { role: "client" }));
}

/** Sends an HTTP/1.0 GET over a forwarded connection; the whole answer. */
export async function httpGet(pf: PortForwardClient, port: number, path: string): Promise<{ answer: Buffer; error: string }> {
  const { data, error } = await pf.connect(port);
  const errText = collect(error);
  data.write(`GET ${path} HTTP/1.0\r\nHost: pod\r\n\r\n`);
  const answer = await collect(data);
  return { answer, error: (await errText).toString() };
}

/** The body of an HTTP answer. */
export function httpBody(answer: Buffer): Buffer {
  const at = answer.indexOf("\r\n\r\n");
  return at < 0 ? Buffer.alloc(0) : answer.subarray(at + 4);
}
