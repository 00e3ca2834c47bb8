// remotecommand over SPDY: the client opens one stream per channel, named by
// its streamType header (error first, then stdin, stdout, stderr, resize, as
// the request asked), and the server replies to each. Once every expected
// stream is open the command may run; the kubelet waits the same way and
// gives up after its stream creation timeout.
import { type Writable } from "node:stream";
import { HullError } from "../../errors.js";
import type { SpdySession, SpdyStream } from "./spdy/session.js";
import { RstStatus } from "./spdy/frames.js";
import {
  ResizeDecoder,
  V1,
  V2,
  errorStreamMessage,
  type CommandOutcome,
  type CommandStreams,
  type ExpectedStreams,
  type TerminalSize,
} from "./remotecommand.js";

/** The kubelet's streamCreationTimeout. */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** After the last output, how long the client has to close the connection itself before hulld does. */
const CLIENT_CLOSE_GRACE_MS = 2000;

type StreamType = "error" | "stdin" | "stdout" | "stderr" | "resize";

function expectedTypes(protocol: string, expect: ExpectedStreams): Set<StreamType> {
  const types = new Set<StreamType>(["error"]);
  if (expect.stdin) types.add("stdin");
  if (expect.stdout) types.add("stdout");
  // A terminal has one output: the client opens no stderr stream with a tty.
  if (expect.stderr && !expect.tty) types.add("stderr");
  // Resizing came with v3.
  if (expect.tty && protocol !== V1 && protocol !== V2) types.add("resize");
  return types;
}

/** Ends a writable side and resolves once its last bytes left (or it was already gone). */
export function endWritable(w: Writable | undefined): Promise<void> {
  if (w === undefined || w.destroyed || w.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    w.once("close", resolve);
    w.end(resolve);
  });
}

/** Waits for the client's streams on session; rejects on timeout, a closed connection or a stream not asked for twice. */
export function spdyCommandStreams(
  session: SpdySession,
  protocol: string,
  expect: ExpectedStreams,
  timeoutMs = STREAM_CREATION_TIMEOUT_MS,
): Promise<CommandStreams> {
  const wanted = expectedTypes(protocol, expect);
  const streams = new Map<StreamType, SpdyStream>();
  const abort = new AbortController();
  session.once("close", () => abort.abort());
  const resizeListeners: Array<(size: TerminalSize) => void> = [];
  return new Promise<CommandStreams>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new HullError(
          "DEADLINE_EXCEEDED",
          `the client opened ${[...streams.keys()].join(", ") || "no streams"} of ${[...wanted].join(", ")} within ${timeoutMs / 1000} s`,
        ),
      );
    }, timeoutMs);
    const onClose = (): void => {
      cleanup();
      reject(new HullError("UNAVAILABLE", `the client closed the connection after opening ${[...streams.keys()].join(", ") || "no streams"}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      session.off("stream", onStream);
      session.off("close", onClose);
    };
    const onStream = (s: SpdyStream): void => {
      const type = s.headers.streamtype as StreamType;
      if (!wanted.has(type) || streams.has(type)) {
        // The kubelet ignores such a stream; a reset tells the client at once.
        s.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      s.reply({});
      streams.set(type, s);
      if (type === "resize") {
        const decoder = new ResizeDecoder();
        s.on("data", (chunk: Buffer) => {
          try {
            for (const size of decoder.push(chunk)) for (const l of resizeListeners) l(size);
          } catch (err) {
            // A malformed size: this stream is refused, the command goes on.
            s.reset(RstStatus.PROTOCOL_ERROR);
            void err;
          }
        });
      } else if (type !== "stdin") {
        // Nothing comes from the client on its output streams but their end.
        s.resume();
      }
      s.on("error", () => undefined);
      if (streams.size === wanted.size) {
        cleanup();
        resolve(commandStreams());
      }
    };
    session.on("stream", onStream);
    session.once("close", onClose);

    const commandStreams = (): CommandStreams => ({
      protocol,
      ...(streams.has("stdin") ? { stdin: streams.get("stdin") } : {}),
      ...(streams.has("stdout") ? { stdout: streams.get("stdout") } : {}),
      ...(streams.has("stderr") ? { stderr: streams.get("stderr") } : {}),
      onResize: (l) => void resizeListeners.push(l),
      signal: abort.signal,
      finish: async (outcome: CommandOutcome) => {
        // Stdin no one reads any more must not hold the session's socket paused: the client's end is behind it.
        streams.get("stdin")?.resume();
        const error = streams.get("error");
        const message = errorStreamMessage(protocol, outcome);
        if (message !== undefined && error !== undefined && !error.destroyed) error.write(message);
        await Promise.all([...streams.values()].map((s) => endWritable(s)));
        // client-go closes the connection once it has read every stream to its end.
        if (!abort.signal.aborted) {
          const grace = setTimeout(() => void session.close(), CLIENT_CLOSE_GRACE_MS);
          await new Promise<void>((r) => (abort.signal.aborted ? r() : abort.signal.addEventListener("abort", () => r(), { once: true })));
          clearTimeout(grace);
        }
      },
    });
  });
}
