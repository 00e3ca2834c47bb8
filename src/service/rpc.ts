// Wraps every RPC: a tracing span (rpc.method, hull.container.id, the caller:
// see peer.ts), the refusal of requests that did not decode (see
// validation/wire.ts), the domain-error → status mapping, and an AbortSignal
// for cancelled calls.
import type {
  handleUnaryCall,
  ServerUnaryCall,
  sendUnaryData,
  handleServerStreamingCall,
  handleBidiStreamingCall,
  ServerWritableStream,
  ServerDuplexStream,
} from "@grpc/grpc-js";
import { SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import type { Logger } from "pino";
import { asHullError, toServiceError } from "./status.js";
import { recordPeer } from "./peer.js";
import { rejectUndecodable } from "../validation/wire.js";

export interface CallContext {
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  span: Span;
}

function containerIdOf(request: unknown): string | undefined {
  if (typeof request === "object" && request !== null && "id" in request) {
    const id = (request as { id: unknown }).id;
    if (typeof id === "string" && id !== "") return id;
  }
  return undefined;
}

export class RpcWrapper {
  constructor(
    private readonly service: string,
    private readonly log: Logger,
  ) {}

  unary<Req, Res>(method: string, fn: (req: Req, ctx: CallContext) => Promise<Res>): handleUnaryCall<Req, Res> {
    const fullName = `${this.service}/${method}`;
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      void trace.getTracer("hull").startActiveSpan(fullName, async (span) => {
        span.setAttribute("rpc.system", "grpc");
        span.setAttribute("rpc.service", this.service);
        span.setAttribute("rpc.method", method);
        const id = containerIdOf(call.request);
        if (id) span.setAttribute("hull.container.id", id);
        try {
          await recordPeer(span, call);
          rejectUndecodable(call.request);
          const response = await fn(call.request, { signal: abort.signal, span });
          callback(null, response);
        } catch (err) {
          const e = asHullError(err);
          span.recordException(e);
          span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
          span.setAttribute("hull.error.reason", e.reason);
          if (e.reason === "INTERNAL" || e.reason === "RUNTIME_ERROR") this.log.error({ err, method }, "call failed");
          else this.log.debug({ method, reason: e.reason, message: e.message }, "call refused");
          callback(toServiceError(e), null);
        } finally {
          span.end();
        }
      });
    };
  }

  /**
   * A server-streaming RPC: fn writes messages and resolves when done; the
   * stream is then ended, or closed with the mapped status if fn throws.
   */
  serverStream<Req, Res>(method: string, fn: (call: ServerWritableStream<Req, Res>, ctx: CallContext) => Promise<void>): handleServerStreamingCall<Req, Res> {
    return (call) => {
      this.stream(method, call, containerIdOf(call.request), (ctx) => {
        rejectUndecodable(call.request);
        return fn(call, ctx);
      });
    };
  }

  /**
   * A bidirectional RPC: fn owns the call until it resolves. The container id
   * usually arrives in the first message, so fn sets hull.container.id itself.
   */
  bidi<Req, Res>(method: string, fn: (call: ServerDuplexStream<Req, Res>, ctx: CallContext) => Promise<void>): handleBidiStreamingCall<Req, Res> {
    return (call) => {
      this.stream(method, call, undefined, (ctx) => fn(call, ctx));
    };
  }

  private stream(
    method: string,
    call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
    id: string | undefined,
    run: (ctx: CallContext) => Promise<void>,
  ): void {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    void trace.getTracer("hull").startActiveSpan(`${this.service}/${method}`, async (span) => {
      span.setAttribute("rpc.system", "grpc");
      span.setAttribute("rpc.service", this.service);
      span.setAttribute("rpc.method", method);
      if (id) span.setAttribute("hull.container.id", id);
      try {
        await recordPeer(span, call);
        await run({ signal: abort.signal, span });
        if (!call.writableEnded && !abort.signal.aborted) call.end();
      } catch (err) {
        const e = asHullError(err);
        span.recordException(e);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
        span.setAttribute("hull.error.reason", e.reason);
        if (e.reason === "INTERNAL" || e.reason === "RUNTIME_ERROR") this.log.error({ err, method }, "stream failed");
        if (!abort.signal.aborted) call.emit("error", toServiceError(e));
      } finally {
        span.end();
      }
    });
  }
}
