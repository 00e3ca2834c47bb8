// ContainerLogs on the wire: the operation's records (ops/logs.ts) as
// ContainerLogsResponse messages encoded straight from the log's bytes
// (logs-encode.ts), about one file read (256 KiB) each, written as fast as the
// client reads (write()'s return value and 'drain').
// Without tail the records are walked in place (LogScanner), with no
// LogEntry or LogLine object per record; tail needs whole lines counted, so
// it reads LogEntries and encodes those. LogLine.time is set only when
// `timestamps` is asked: it is what the field means, and it saves a
// Timestamp per line on bulk reads. A raw request gets OutputFrames instead
// (logs-frames.ts).
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ContainerLogsRequest, ContainerLogsResponse, ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { LogScanner, STDERR, STDOUT, type RecordVisitor } from "../oci/logline.js";
import { containerLogs, recordFilter } from "../ops/logs.js";
import { validateLogsRequest } from "../validation/requests.js";
import type { CallContext, RpcWrapper } from "./rpc.js";
import { LogLinesEncoder, type LogResponseEncoder } from "./logs-encode.js";
import { OutputFramesEncoder } from "./logs-frames.js";

/** Resolves when the stream can take more, or the call is gone. */
function drained(call: ServerWritableStream<ContainerLogsRequest, ContainerLogsResponse>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done);
    if (signal.aborted) done();
  });
}

async function streamLogs(engine: Engine, call: ServerWritableStream<ContainerLogsRequest, ContainerLogsResponse>, ctx: CallContext): Promise<void> {
  const req = call.request;
  validateLogsRequest(req);
  let sent = 0;
  const encoder: LogResponseEncoder = req.raw ? new OutputFramesEncoder() : new LogLinesEncoder(req.timestamps);
  const scanner = new LogScanner();
  const accept = recordFilter(req);
  const visit: RecordVisitor = (stream, full, data, msgStart, msgEnd) => {
    const t = scanner.time.getTime();
    if (!accept(stream, t)) return;
    encoder.add(stream, full, t, data, msgStart, msgEnd);
    sent++;
  };
  const raw = req.tail === undefined;
  try {
    const onResolved = (id: string): void => void ctx.span.setAttribute("hull.container.id", id);
    const batches = containerLogs(engine, req.id, req, ctx.signal, onResolved, raw ? { scanner, visit } : undefined);
    for await (const batch of batches) {
      // Tailed reads come as entries (already selected); raw ones went through visit.
      for (const e of batch) {
        encoder.add(e.stream === "stdout" ? STDOUT : STDERR, e.full, e.time.getTime(), e.data, 0, e.data.length);
        sent++;
      }
      // One response per read: a follower gets lines as they come, bulk reads stay batched.
      const message = encoder.take();
      if (message && !call.write(message)) await drained(call, ctx.signal);
      if (ctx.signal.aborted) return;
    }
  } finally {
    ctx.span.setAttribute("hull.logs.lines", sent);
  }
}

export function logsHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "containerLogs"> {
  return {
    containerLogs: rpc.serverStream<ContainerLogsRequest, ContainerLogsResponse>("ContainerLogs", (call, ctx) => streamLogs(engine, call, ctx)),
  };
}
