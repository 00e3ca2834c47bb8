// AttachContainer and ResizeTerminal: conmon's attach socket and control FIFO
// (the logic lives in src/lifecycle/attach.ts and resize.ts).
import { Metadata, type ServerDuplexStream } from "@grpc/grpc-js";
import type { AttachContainerRequest, AttachContainerResponse, ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { attachContainer, readOpen, type AttachPeer } from "../ops/attach.js";
import { resizeTerminal } from "../ops/resize.js";
import { toContainer } from "./convert.js";
import { encodedAttachResponse } from "./attach-encode.js";
import { parseAttachOpen, validateAttachInput, validateResizeRequest } from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

/**
 * Trailer of an AttachContainer that ended OK: how many times the client
 * fell behind the container's output and was moved to the log file
 * (AttachSummary.logFallbacks). A client that keeps up sees 0.
 */
export const LOG_FALLBACKS_TRAILER = "hull-attach-log-fallbacks";

// Client messages buffered before the call is paused (stdin waits for the container).
const HIGH_WATER = 16;

/**
 * The client's messages, pulled one at a time. Not the Readable's own async
 * iterator: that destroys the call when it sees an error, and the error
 * hulld emits to send its status would then never reach the client.
 */
export function clientMessages<Req, Res>(call: ServerDuplexStream<Req, Res>): AsyncIterator<Req> {
  const queue: Req[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  call.on("data", (msg: Req) => {
    queue.push(msg);
    if (queue.length >= HIGH_WATER) call.pause();
    wake?.();
  });
  call.on("end", () => {
    ended = true;
    wake?.();
  });
  call.on("error", (err: Error) => {
    failure ??= err;
    wake?.();
  });
  return {
    async next(): Promise<IteratorResult<Req>> {
      for (;;) {
        const msg = queue.shift();
        if (msg !== undefined) {
          if (queue.length < HIGH_WATER / 2) call.resume();
          return { value: msg, done: false };
        }
        if (failure) throw failure;
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
}

/** The messages, each checked (validateAttachInput) as the attach reads it. */
function validated(messages: AsyncIterator<AttachContainerRequest>): AsyncIterator<AttachContainerRequest> {
  return {
    async next(): Promise<IteratorResult<AttachContainerRequest>> {
      const r = await messages.next();
      if (!r.done) validateAttachInput(r.value);
      return r;
    },
  };
}

export function attachHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "attachContainer" | "resizeTerminal"> {
  return {
    attachContainer: rpc.bidi<AttachContainerRequest, AttachContainerResponse>("AttachContainer", async (call, ctx) => {
      const messages = clientMessages(call);
      const peer: AttachPeer = {
        messages,
        write: (msg, done, headroom) => {
          // A write after the call ended (the client went away) is dropped with it.
          if (call.writableEnded || call.destroyed) return done();
          call.write(encodedAttachResponse(msg, headroom), () => done());
        },
        signal: ctx.signal,
        describe: toContainer,
        resolved: (id) => ctx.span.setAttribute("hull.container.id", id),
      };
      // The open message is checked before anything is looked up; the rest as they come.
      const opts = parseAttachOpen(await readOpen(peer));
      const summary = await attachContainer(engine, { ...peer, messages: validated(messages) }, opts);
      // Ended here rather than by the wrapper, to carry the summary as trailers.
      if (!call.writableEnded && !ctx.signal.aborted) {
        const trailers = new Metadata();
        trailers.set(LOG_FALLBACKS_TRAILER, String(summary.logFallbacks));
        call.end(trailers);
      }
    }),
    resizeTerminal: rpc.unary("ResizeTerminal", async (req) => {
      validateResizeRequest(req);
      await resizeTerminal(engine, req.id, req.size);
      return {};
    }),
  };
}
