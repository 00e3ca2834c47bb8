// Tracing setup. Code everywhere uses @opentelemetry/api only; with no
// OTEL_* exporter configured the API's no-op tracer costs nothing. The SDK
// and the OTLP exporter are loaded only when an endpoint is set.
import { SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import type { Logger } from "pino";

/**
 * Runs fn in an active child span named `name` (tracer "hull"); a failure
 * is recorded on the span and rethrown; the span ends on every path.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer("hull").startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

export interface TracingHandle {
  shutdown(): Promise<void>;
}

export function otlpConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) &&
    env.OTEL_SDK_DISABLED !== "true" &&
    env.OTEL_TRACES_EXPORTER !== "none"
  );
}

export async function setupTracing(log: Logger): Promise<TracingHandle | undefined> {
  if (!otlpConfigured()) return undefined;
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": process.env.OTEL_SERVICE_NAME ?? "hulld" }),
    // The exporter reads OTEL_EXPORTER_OTLP_* itself (endpoint, headers, timeout).
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  log.info({ endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT }, "exporting traces by OTLP/HTTP");
  return { shutdown: () => provider.shutdown() };
}
