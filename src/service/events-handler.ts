// Events: the container and image event stream (live, filtered, with replay
// of stored events). The seam and flow control live in event-stream.ts.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { RpcWrapper } from "./rpc.js";
import { buildEventFilter } from "./event-filter.js";
import { DEFAULT_MAX_BACKLOG, EventPump, type EventSource } from "./event-stream.js";
import { validateEventsRequest } from "../validation/requests.js";

export interface EventsOptions {
  /** Live events a client may fall behind by; beyond it the stream ends with RESOURCE_EXHAUSTED. */
  maxBacklog?: number;
}

export function eventsHandlers(source: EventSource, rpc: RpcWrapper, opts: EventsOptions = {}): Pick<ContainerServiceServer, "events"> {
  const maxBacklog = opts.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  return {
    events: rpc.serverStream("Events", async (call, ctx) => {
      validateEventsRequest(call.request);
      // bind: the Engine's resolveImage is a method.
      const filter = await buildEventFilter(source.store, call.request, source.resolveImage?.bind(source));
      if (filter.containerIds.size === 1) ctx.span.setAttribute("hull.container.id", [...filter.containerIds][0] ?? "");
      if (filter.imageIds.size === 1) ctx.span.setAttribute("hull.image.id", [...filter.imageIds][0] ?? "");
      await new EventPump(call, ctx.signal, filter, maxBacklog).run(source);
    }),
  };
}
