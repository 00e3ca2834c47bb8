// AttachContainer and ResizeTerminal: conmon's attach socket and control FIFO
// (the logic lives in src/lifecycle/attach.ts and resize.ts).
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { attachContainer } from "../lifecycle/attach.js";
import { resizeTerminal } from "../lifecycle/resize.js";
import { toContainer } from "./convert.js";
import { requireId } from "./lifecycle-handlers.js";
import type { RpcWrapper } from "./rpc.js";

export function attachHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "attachContainer" | "resizeTerminal"> {
  return {
    attachContainer: rpc.bidi("AttachContainer", (call, ctx) =>
      attachContainer(engine, {
        messages: call[Symbol.asyncIterator](),
        write: (msg, done) => {
          // A write after the call ended (the client went away) is dropped with it.
          if (call.writableEnded || call.destroyed) return done();
          call.write(msg, () => done());
        },
        signal: ctx.signal,
        describe: toContainer,
        resolved: (id) => ctx.span.setAttribute("hull.container.id", id),
      }),
    ),
    resizeTerminal: rpc.unary("ResizeTerminal", async (req) => {
      await resizeTerminal(engine, requireId(req.id), req.size);
      return {};
    }),
  };
}
