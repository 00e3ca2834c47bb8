// The one wrapper around every RPC, whatever its shape (unary, server-,
// client- or bidi-streaming): a tracing span (rpc.method, hull.container.id,
// the caller: see peer.ts), the refusal of requests that did not decode (see
// validation/wire.ts), the domain-error → status mapping (status.ts), the
// log line of a failure, and an AbortSignal for cancelled calls.
import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
  ServerDuplexStream,
  ServerReadableStream,
  ServerWritableStream,
  ServiceError,
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

/** What every call object shares: cancellation, and what recordPeer reads. */
type AnyCall = Parameters<typeof recordPeer>[1] & { on(event: "cancelled", listener: () => void): unknown };

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
    return (call, callback: sendUnaryData<Res>) => {
      this.serve(method, call, containerIdOf(call.request), {
        run: async (ctx) => {
          rejectUndecodable(call.request);
          callback(null, await fn(call.request, ctx));
        },
        fail: (err) => callback(err, null),
      });
    };
  }

  /** A client-streaming RPC: fn reads the call's messages and resolves with the one response. */
  clientStream<Req, Res>(method: string, fn: (call: ServerReadableStream<Req, Res>, ctx: CallContext) => Promise<Res>): handleClientStreamingCall<Req, Res> {
    return (call, callback: sendUnaryData<Res>) => {
      this.serve(method, call, undefined, {
        run: async (ctx) => callback(null, await fn(call, ctx)),
        fail: (err) => callback(err, null),
      });
    };
  }

  /**
   * A server-streaming RPC: fn writes messages and resolves when done; the
   * stream is then ended, or closed with the mapped status if fn throws.
   */
  serverStream<Req, Res>(method: string, fn: (call: ServerWritableStream<Req, Res>, ctx: CallContext) => Promise<void>): handleServerStreamingCall<Req, Res> {
    return (call) => {
      this.serve(
        method,
        call,
        containerIdOf(call.request),
        this.streamed(call, (ctx) => {
          rejectUndecodable(call.request);
          return fn(call, ctx);
        }),
      );
    };
  }

  /**
   * A bidirectional RPC: fn owns the call until it resolves. The container id
   * usually arrives in the first message, so fn sets hull.container.id itself.
   */
  bidi<Req, Res>(method: string, fn: (call: ServerDuplexStream<Req, Res>, ctx: CallContext) => Promise<void>): handleBidiStreamingCall<Req, Res> {
    return (call) => {
      this.serve(
        method,
        call,
        undefined,
        this.streamed(call, (ctx) => fn(call, ctx)),
      );
    };
  }

  /** How a call that streams its responses finishes: ended once run resolves, or closed with the status. */
  private streamed(
    call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
    run: (ctx: CallContext) => Promise<void>,
  ): { run: (ctx: CallContext) => Promise<void>; fail: (err: ServiceError, ctx: CallContext) => void } {
    return {
      run: async (ctx) => {
        await run(ctx);
        if (!call.writableEnded && !ctx.signal.aborted) call.end();
      },
      fail: (err, ctx) => {
        if (!ctx.signal.aborted) call.emit("error", err);
      },
    };
  }

  private serve(
    method: string,
    call: AnyCall,
    id: string | undefined,
    how: { run: (ctx: CallContext) => Promise<void>; fail: (err: ServiceError, ctx: CallContext) => void },
  ): void {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    void trace.getTracer("hull").startActiveSpan(`${this.service}/${method}`, async (span) => {
      span.setAttribute("rpc.system", "grpc");
      span.setAttribute("rpc.service", this.service);
      span.setAttribute("rpc.method", method);
      if (id) span.setAttribute("hull.container.id", id);
      const ctx: CallContext = { signal: abort.signal, span };
      try {
        await recordPeer(span, call);
        await how.run(ctx);
      } catch (err) {
        const e = asHullError(err);
        span.recordException(e);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
        span.setAttribute("hull.error.reason", e.reason);
        if (e.reason === "INTERNAL" || e.reason === "RUNTIME_ERROR") this.log.error({ err, method }, "call failed");
        else this.log.debug({ method, reason: e.reason, message: e.message }, "call refused");
        how.fail(toServiceError(e) as ServiceError, ctx);
      } finally {
        span.end();
      }
    });
  }
}
