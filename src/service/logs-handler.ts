// ContainerLogs: the container's log (conmon's k8s-file), with follow, tail,
// since/until and stream selection, as `podman logs` / `docker logs`.
//
// Choices:
// - Stream selection, since and until apply first; `tail: N` then gives the
//   last N of the lines that remain (a P run with its F end is one line), so
//   `--tail 5` of stderr gives five stderr lines.
// - since/until are inclusive and compare at millisecond precision (what a
//   Timestamp decoded into a Date holds).
// - LogLine.time is set only when `timestamps` is asked: it is what the field
//   means, and it saves a Timestamp per line on bulk reads.
// - follow ends once the container is no longer created/running/paused/
//   stopping (an exit, or never started) or is removed, after the file has
//   been read to its end again (src/oci/logfile.ts explains why that is
//   complete). With `until`, it also ends shortly after that time passes.
// - A container whose log does not exist (never started) has no lines.
import type { ServerWritableStream } from "@grpc/grpc-js";
import {
  ContainerState,
  OutputStream,
  type ContainerLogsRequest,
  type ContainerLogsResponse,
  type ContainerServiceServer,
  type LogLine,
} from "../gen/hull/v1/container.js";
import { wrapError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { queryLogBatches, type LogEntry } from "../oci/logfile.js";
import { validateLogsRequest } from "../validation/requests.js";
import type { CallContext, RpcWrapper } from "./rpc.js";

const S = ContainerState;

/** Lines past `until` may still be on their way to the file when the clock passes it. */
const UNTIL_GRACE_MS = 250;
/** Responses stay near 64 KiB: one file read's worth of lines. */
const BATCH_BYTES = 64 * 1024;
/** The LogLine's own fields on the wire, roughly. */
const LINE_OVERHEAD = 24;

/** States in which conmon may still write to the log. */
const WRITING: ReadonlySet<ContainerState> = new Set([
  S.CONTAINER_STATE_CREATED,
  S.CONTAINER_STATE_RUNNING,
  S.CONTAINER_STATE_PAUSED,
  S.CONTAINER_STATE_STOPPING,
  S.CONTAINER_STATE_UNKNOWN,
  // Removal stops the container first; the follow ends when it is gone.
  S.CONTAINER_STATE_REMOVING,
]);

function selector(req: ContainerLogsRequest): (e: LogEntry) => boolean {
  const both = !req.stdout && !req.stderr;
  const since = req.since?.getTime();
  const until = req.until?.getTime();
  return (e) => {
    if (!both && !(e.stream === "stdout" ? req.stdout : req.stderr)) return false;
    const t = e.time.getTime();
    return (since === undefined || t >= since) && (until === undefined || t <= until);
  };
}

/** A promise that resolves (true) once, from the first of several causes. */
class Latch {
  readonly promise: Promise<boolean>;
  private resolve: (v: boolean) => void = () => undefined;

  constructor() {
    this.promise = new Promise<boolean>((r) => (this.resolve = r));
  }

  fire(): void {
    this.resolve(true);
  }
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

function toLine(e: LogEntry, timestamps: boolean): LogLine {
  return {
    stream: e.stream === "stdout" ? OutputStream.OUTPUT_STREAM_STDOUT : OutputStream.OUTPUT_STREAM_STDERR,
    time: timestamps ? e.time : undefined,
    data: e.data,
    full: e.full,
  };
}

async function streamLogs(engine: Engine, call: ServerWritableStream<ContainerLogsRequest, ContainerLogsResponse>, ctx: CallContext): Promise<void> {
  const req = call.request;
  validateLogsRequest(req);
  const id = await engine.resolve(req.id);
  ctx.span.setAttribute("hull.container.id", id);
  const finished = new Latch();
  // Subscribe before looking at the state, so an exit in between is not missed.
  const unsubscribe = engine.bus.subscribe(
    id,
    (rec) => {
      if (!WRITING.has(rec.state)) finished.fire();
    },
    () => finished.fire(),
  );
  let untilTimer: NodeJS.Timeout | undefined;
  let sent = 0;
  try {
    const rec = await engine.withLock(id, "logs", async (r) => r);
    if (!WRITING.has(rec.state)) finished.fire();
    if (req.follow && req.until) {
      untilTimer = setTimeout(() => finished.fire(), Math.max(0, req.until.getTime() - Date.now()) + UNTIL_GRACE_MS);
    }
    const batches = queryLogBatches(rec.logPath, {
      follow: req.follow,
      signal: ctx.signal,
      untilDone: () => finished.promise,
      select: selector(req),
      tail: req.tail,
    });
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
  } catch (err) {
    throw wrapError(err, id, "logs");
  } finally {
    ctx.span.setAttribute("hull.logs.lines", sent);
    clearTimeout(untilTimer);
    unsubscribe();
  }
}

export function logsHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "containerLogs"> {
  return {
    containerLogs: rpc.serverStream<ContainerLogsRequest, ContainerLogsResponse>("ContainerLogs", (call, ctx) => streamLogs(engine, call, ctx)),
  };
}
