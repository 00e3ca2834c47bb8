// Requests that do not decode. ts-proto (forceLong=number) throws while
// decoding an int64/uint64 beyond 2^53 (a Timestamp's seconds, a resource
// limit, an import's size_bytes), and grpc-js answers a request it cannot
// deserialize with INTERNAL: the client's mistake would read as hulld's.
// tolerantDefinition() makes such a request arrive as a marker object, which
// every request validator refuses as INVALID_ARGUMENT (rejectUndecodable).
// Bidirectional streams keep grpc-js's behaviour: their handlers read each
// message in event callbacks, and none of their messages has a 64-bit field.
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { invalidArgument } from "../errors.js";

const UNDECODABLE = Symbol.for("hull.undecodable");

interface Undecodable {
  [UNDECODABLE]: string;
}

function isUndecodable(req: unknown): req is Undecodable {
  return typeof req === "object" && req !== null && UNDECODABLE in req;
}

/** Throws INVALID_ARGUMENT when req is the marker of a request that did not decode. */
export function rejectUndecodable(req: unknown): void {
  if (isUndecodable(req)) throw invalidArgument("request", `cannot be decoded: ${req[UNDECODABLE]}`);
}

function tolerant<Req, Res>(method: MethodDefinition<Req, Res>): MethodDefinition<Req, Res> {
  if (method.requestStream && method.responseStream) return method;
  const decode = method.requestDeserialize;
  return {
    ...method,
    requestDeserialize: (bytes: Buffer): Req => {
      try {
        return decode(bytes);
      } catch (err) {
        const marker: Undecodable = { [UNDECODABLE]: err instanceof Error ? err.message.slice(0, 200) : String(err).slice(0, 200) };
        // The marker stands in for the request until the handler's validator refuses it.
        return marker as unknown as Req;
      }
    },
  };
}

/** The service definition with every unary, server- and client-streaming method's decoding made tolerant. */
export function tolerantDefinition<T extends ServiceDefinition>(definition: T): T {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) out[name] = tolerant(method as MethodDefinition<unknown, unknown>);
  return out as T;
}
