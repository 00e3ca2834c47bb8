// remotecommand over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io), as
// the kubelet's streaming server speaks it (wsstream): every binary message
// starts with its channel byte (0 stdin, 1 stdout, 2 stderr, 3 error,
// 4 resize); v5 adds the close signal [255, channel], by which the client
// ends its stdin. The connection's close ends the rest. Port forward over
// WebSocket is SPDY tunnelled in binary messages
// (SPDY/3.1+portforward.k8s.io, client-go's tunneling dialer), served by the
// same SPDY session over the message stream.
import { Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";
import { HullError } from "../../errors.js";
import { ResizeDecoder, V5, errorStreamMessage, type CommandOutcome, type CommandStreams, type ExpectedStreams, type TerminalSize } from "./remotecommand.js";
import { endWritable } from "./spdy-streams.js";

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE_SIGNAL = 255;
/** Client stdin buffered before the connection is paused. */
const STDIN_BUFFER = 1024 * 1024;

/** The WebSocket subprotocol of SPDY-tunnelled port forward. */
export const TUNNELED_PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io";

function channelWriter(ws: WebSocket, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const message = Buffer.allocUnsafe(chunk.length + 1);
      message[0] = channel;
      chunk.copy(message, 1);
      if (ws.readyState !== ws.OPEN) return callback();
      ws.send(message, { binary: true }, (err) => callback(err ?? null));
    },
  });
}

/** The exec or attach channels of an accepted WebSocket; protocol is the negotiated subprotocol. */
export function websocketCommandStreams(ws: WebSocket, protocol: string, expect: ExpectedStreams, warn: (err: unknown) => void): CommandStreams {
  const abort = new AbortController();
  const resizeListeners: Array<(size: TerminalSize) => void> = [];
  const decoder = new ResizeDecoder();
  const stdin = expect.stdin
    ? new Readable({
        // Room for many client messages (client-go sends up to 32 KiB each) before the connection is paused.
        highWaterMark: STDIN_BUFFER,
        read() {
          if (ws.isPaused) ws.resume();
        },
      })
    : undefined;
  const stdout = expect.stdout ? channelWriter(ws, STDOUT) : undefined;
  const stderr = expect.stderr && !expect.tty ? channelWriter(ws, STDERR) : undefined;
  const error = channelWriter(ws, ERROR);
  const endStdin = (): void => {
    if (stdin !== undefined && !stdin.readableEnded) stdin.push(null);
  };
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const channel = data[0];
    const body = data.subarray(1);
    if (channel === CLOSE_SIGNAL && protocol === V5) {
      if (body.length !== 1) {
        warn(new HullError("INVALID_ARGUMENT", `a close signal names one channel; got ${body.length} bytes`));
        ws.close(1002, "malformed close signal");
        return;
      }
      if (body[0] === STDIN) endStdin();
      return;
    }
    if (channel === STDIN && stdin !== undefined && !stdin.readableEnded) {
      if (!stdin.push(Buffer.from(body))) ws.pause();
    } else if (channel === RESIZE && expect.tty) {
      try {
        for (const size of decoder.push(Buffer.from(body))) for (const l of resizeListeners) l(size);
      } catch (err) {
        warn(err);
      }
    }
    // The kubelet drops messages for channels it does not read, and so does hulld.
  });
  ws.once("close", () => {
    endStdin();
    abort.abort();
  });
  // The kubelet's first message, empty, on the lowest channel it writes: the client knows the streams are up.
  ws.send(Buffer.from([stdout ? STDOUT : stderr ? STDERR : ERROR]), { binary: true });
  return {
    protocol,
    ...(stdin ? { stdin } : {}),
    ...(stdout ? { stdout } : {}),
    ...(stderr ? { stderr } : {}),
    onResize: (l) => void resizeListeners.push(l),
    signal: abort.signal,
    finish: async (outcome: CommandOutcome) => {
      // Stdin no one reads any more must not hold the connection paused: the client's close frame is behind it
      // (ws would wait out its 30 s close timeout).
      stdin?.resume();
      if (ws.isPaused) ws.resume();
      const message = errorStreamMessage(protocol, outcome);
      if (message !== undefined) error.write(message);
      await Promise.all([endWritable(stdout), endWritable(stderr), endWritable(error)]);
      if (ws.readyState === ws.OPEN) ws.close(1000);
      if (!abort.signal.aborted) await new Promise<void>((r) => ws.once("close", () => r()));
    },
  };
}
