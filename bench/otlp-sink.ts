// A minimal OTLP/HTTP trace receiver for the benchmarks: hulld exports its
// spans (src/tracing.ts, @opentelemetry/exporter-trace-otlp-http, which
// posts JSON to <endpoint>) here, so a bench can show where the time goes
// inside hulld in the same run that measures it from outside. Only what the
// benches read is kept: name, trace, duration and the container id.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SpanRecord {
  name: string;
  traceId: string;
  /** The span's hull.container.id attribute; "" when it has none. */
  containerId: string;
  startNs: bigint;
  endNs: bigint;
  durationMs: number;
}

export interface SpanSink {
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT for hulld. */
  endpoint: string;
  spans(): SpanRecord[];
  /** Forgets what was received so far (warm-up spans). */
  clear(): void;
  close(): Promise<void>;
}

// The OTLP JSON encoding (opentelemetry-proto's JSON mapping): only the fields read here.
interface OtlpAttribute {
  key?: string;
  value?: { stringValue?: string };
}
interface OtlpSpan {
  name?: string;
  traceId?: string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: OtlpAttribute[];
}
interface OtlpExport {
  resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

function toRecord(s: OtlpSpan): SpanRecord | undefined {
  if (s.name === undefined || s.startTimeUnixNano === undefined || s.endTimeUnixNano === undefined) return undefined;
  const start = BigInt(s.startTimeUnixNano);
  const end = BigInt(s.endTimeUnixNano);
  const id = s.attributes?.find((a) => a.key === "hull.container.id")?.value?.stringValue ?? "";
  return { name: s.name, traceId: s.traceId ?? "", containerId: id, startNs: start, endNs: end, durationMs: Number(end - start) / 1e6 };
}

function parseExport(body: string): SpanRecord[] {
  const doc = JSON.parse(body) as OtlpExport;
  const out: SpanRecord[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const r = toRecord(s);
        if (r) out.push(r);
      }
    }
  }
  return out;
}

export async function startSpanSink(): Promise<SpanSink> {
  let received: SpanRecord[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        received.push(...parseExport(Buffer.concat(chunks).toString("utf8")));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } catch (err) {
        // A body we cannot read is the exporter's bug or ours: say so, and tell the exporter.
        process.stderr.write(`bench: unreadable OTLP export: ${err instanceof Error ? err.message : String(err)}\n`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/v1/traces`,
    spans: () => received,
    clear: () => {
      received = [];
    },
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

/** hulld's environment for exporting to a sink: short batches, so spans arrive while the bench runs. */
export function sinkEnv(sink: SpanSink): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: "200",
    OTEL_BSP_MAX_QUEUE_SIZE: "65536",
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "4096",
  };
}

/**
 * The spans of each container. A span without a container id (an RPC's own
 * span before the id is known) counts for the container named elsewhere in
 * its trace.
 */
export function byContainer(spans: SpanRecord[]): Map<string, SpanRecord[]> {
  const traceOwner = new Map<string, string>();
  for (const s of spans) if (s.containerId !== "" && s.traceId !== "") traceOwner.set(s.traceId, s.containerId);
  const out = new Map<string, SpanRecord[]>();
  for (const s of spans) {
    const id = s.containerId !== "" ? s.containerId : (traceOwner.get(s.traceId) ?? "");
    if (id === "") continue;
    const list = out.get(id) ?? [];
    list.push(s);
    out.set(id, list);
  }
  return out;
}
