// CRI Attach over the streaming server: the same attach session as hull.v1's
// AttachContainer and HTTP attach (src/ops/attach.ts), through an AttachPeer
// whose messages are the client's stdin, its end, and its terminal sizes.
// Output is written with the peer's backpressure (done once it left hulld),
// so the session's own bound and log fallback apply unchanged. The attach
// ends when the container exits, with Success on the error stream (the
// kubelet reports no exit code for attach), or with the error.
import type { AttachContainerRequest, AttachContainerResponse } from "../../gen/hull/v1/container.js";
import { OutputStream } from "../../gen/hull/v1/container.js";
import type { Engine } from "../../engine/engine.js";
import { attachContainer, type AttachPeer } from "../../ops/attach.js";
import { toContainer } from "../convert.js";
import { asHullError } from "../status.js";
import type { CommandStreams } from "./remotecommand.js";
import type { AttachTarget } from "./tokens.js";

/** The client's side as attach messages: stdin chunks, close_stdin at its end, resizes, in arrival order. */
function clientMessages(streams: CommandStreams): AsyncIterator<AttachContainerRequest> {
  const queue: AttachContainerRequest[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const push = (m: AttachContainerRequest): void => {
    queue.push(m);
    wake?.();
  };
  const stdin = streams.stdin;
  if (stdin !== undefined) {
    stdin.on("data", (chunk: Buffer) => {
      push({ message: { $case: "stdin", value: chunk } });
      // Held until the session took it: the client's pace is the container's.
      stdin.pause();
    });
    stdin.once("end", () => push({ message: { $case: "closeStdin", value: true } }));
  }
  streams.onResize((s) => push({ message: { $case: "resize", value: { width: s.width, height: s.height } } }));
  streams.signal.addEventListener("abort", () => {
    ended = true;
    wake?.();
  });
  return {
    async next(): Promise<IteratorResult<AttachContainerRequest>> {
      for (;;) {
        const m = queue.shift();
        if (m !== undefined) {
          if (queue.length === 0 && stdin !== undefined && !stdin.readableEnded) stdin.resume();
          return { value: m, done: false };
        }
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
}

export async function serveAttach(engine: Engine, target: AttachTarget, streams: CommandStreams): Promise<void> {
  const peer: AttachPeer = {
    messages: clientMessages(streams),
    signal: streams.signal,
    describe: toContainer,
    write: (msg: AttachContainerResponse, done: () => void) => {
      const m = msg.message;
      if (m?.$case !== "output") return done();
      const sink = m.value.stream === OutputStream.OUTPUT_STREAM_STDERR && !target.tty ? streams.stderr : streams.stdout;
      if (sink === undefined || sink.destroyed) return done();
      sink.write(m.value.data, () => done());
    },
  };
  try {
    await attachContainer(engine, peer, {
      ref: target.containerId,
      streams: { stdin: target.stdin, stdout: target.stdout, stderr: target.stderr },
      detachKeys: Buffer.alloc(0),
      logs: false,
      stream: true,
      start: false,
      recursive: false,
    });
    await streams.finish({ ok: true });
  } catch (err) {
    if (streams.signal.aborted) return;
    await streams.finish({ error: asHullError(err).message });
  }
}
