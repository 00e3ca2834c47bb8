// ContainerLogs on the wire: the operation's batches (ops/logs.ts) as
// LogLine messages of about 64 KiB, written as fast as the client reads.
// LogLine.time is set only when `timestamps` is asked: it is what the field
// means, and it saves a Timestamp per line on bulk reads.
import type { ServerWritableStream } from "@grpc/grpc-js";
import { OutputStream, type ContainerLogsRequest, type ContainerLogsResponse, type ContainerServiceServer, type LogLine } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import type { LogEntry } from "../oci/logfile.js";
import { containerLogs } from "../ops/logs.js";
import { validateLogsRequest } from "../validation/requests.js";
import type { CallContext, RpcWrapper } from "./rpc.js";

/** Responses stay near 64 KiB: one file read's worth of lines. */
const BATCH_BYTES = 64 * 1024;
/** The LogLine's own fields on the wire, roughly. */
const LINE_OVERHEAD = 24;

function toLine(e: LogEntry, timestamps: boolean): LogLine {
  return {
    stream: e.stream === "stdout" ? OutputStream.OUTPUT_STREAM_STDOUT : OutputStream.OUTPUT_STREAM_STDERR,
    time: timestamps ? e.time : undefined,
    data: e.data,
    full: e.full,
  };
}

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
  let lines: LogLine[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    const message: ContainerLogsResponse = { lines };
    sent += lines.length;
    lines = [];
    bytes = 0;
    if (!call.write(message)) await drained(call, ctx.signal);
  };
  try {
    const batches = containerLogs(engine, req.id, req, ctx.signal, (id) => ctx.span.setAttribute("hull.container.id", id));
    for await (const batch of batches) {
      for (const e of batch) {
        if (bytes > 0 && bytes + e.data.length + LINE_OVERHEAD > BATCH_BYTES) await flush();
        lines.push(toLine(e, req.timestamps));
        bytes += e.data.length + LINE_OVERHEAD;
      }
      // One response per read: a follower gets lines as they come, bulk reads stay batched.
      await flush();
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
