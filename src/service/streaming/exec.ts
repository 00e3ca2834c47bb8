// CRI Exec over the streaming server: the command runs as a hull exec
// session (src/ops/exec.ts, the same one hull.v1's ExecContainer starts),
// with the client's streams as its stdin, output and terminal size, and its
// exit code on the error stream. As ExecContainer does, a client that goes
// away or falls more than MAX_PENDING_OUTPUT behind takes the process down.
import type { Writable } from "node:stream";
import type { Logger } from "pino";
import type { Engine } from "../../engine/engine.js";
import { endExecInput, resizeExecSession, startExec, type ExecSession } from "../../ops/exec.js";
import { ExecCommandError } from "../../oci/exec-failure.js";
import type { OutputStreamName } from "../../oci/runtime.js";
import { MAX_PENDING_OUTPUT } from "../exec-handler.js";
import { asHullError } from "../status.js";
import type { CommandStreams, TerminalSize } from "./remotecommand.js";
import type { ExecTarget } from "./tokens.js";

/**
 * Output written to the client and not yet taken by its connection, past
 * which the exec is ended. conmon's output cannot be paused, so this bounds
 * hulld's memory; it is wider than ExecContainer's (MAX_PENDING_OUTPUT), as
 * no HTTP/2 window stands between hulld and the client here and a client
 * that reads at the container's own pace still lags by bursts.
 */
export const MAX_STREAM_PENDING = 4 * MAX_PENDING_OUTPUT;
/** conmon's packets (8 KiB) merged into frames of up to this many bytes: an eighth of the frames to write and parse. */
const BATCH_BYTES = 64 * 1024;

/** Output bound for one client, merged per stream until the next turn of the event loop or BATCH_BYTES, counted until written. */
class OutputBatches {
  private pending = 0;
  private readonly batches = new Map<Writable, Buffer[]>();
  private scheduled = false;

  constructor(private readonly overflow: () => void) {}

  push(sink: Writable, data: Buffer): void {
    this.pending += data.length;
    if (this.pending > MAX_STREAM_PENDING) return this.overflow();
    const parts = this.batches.get(sink) ?? [];
    parts.push(data);
    this.batches.set(sink, parts);
    if (parts.reduce((n, p) => n + p.length, 0) >= BATCH_BYTES) this.write(sink, parts);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes every batch now (the order of each stream is kept; streams are independent). */
  flush(): void {
    this.scheduled = false;
    for (const [sink, parts] of this.batches) this.write(sink, parts);
  }

  private write(sink: Writable, parts: Buffer[]): void {
    this.batches.delete(sink);
    if (parts.length === 0 || sink.destroyed) return;
    const data = parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts);
    sink.write(data, () => (this.pending -= data.length));
  }
}

/** How long a tty exec waits for the client's first size before it starts without one. */
const FIRST_SIZE_WAIT_MS = 1000;

/** The client's first terminal size, if it sends one soon (client-go sends it as soon as its streams are open). */
function firstSize(streams: CommandStreams): Promise<TerminalSize | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), FIRST_SIZE_WAIT_MS);
    streams.onResize((size) => {
      clearTimeout(timer);
      resolve(size);
    });
    streams.signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
}

export async function serveExec(engine: Engine, target: ExecTarget, streams: CommandStreams, log: Logger): Promise<void> {
  const size = target.tty ? await firstSize(streams) : undefined;
  let overflowed = false;
  let session: ExecSession | undefined;
  const out = new OutputBatches(() => {
    overflowed = true;
    session?.process.kill();
  });
  const output = (stream: OutputStreamName, data: Buffer): void => {
    // A terminal has one output; without one, stderr goes where it was asked for.
    const sink = stream === "stderr" && !target.tty ? streams.stderr : streams.stdout;
    if (sink !== undefined && !sink.destroyed && !overflowed) out.push(sink, data);
  };
  try {
    session = await startExec(
      engine,
      target.containerId,
      {
        command: target.command,
        env: [],
        workingDir: "",
        user: "",
        tty: target.tty,
        stdin: streams.stdin !== undefined,
        timeoutSeconds: 0,
        ...(size ? { size } : {}),
      },
      output,
    );
  } catch (err) {
    if (err instanceof ExecCommandError) {
      (streams.stderr ?? streams.stdout)?.write(`${err.message}\n`);
      await streams.finish({ exitCode: err.exitCode, command: target.command });
      return;
    }
    await streams.finish({ error: asHullError(err).message });
    return;
  }
  const proc = session.process;
  if (overflowed) proc.kill();
  const onAbort = (): void => proc.kill();
  streams.signal.addEventListener("abort", onAbort, { once: true });
  if (streams.signal.aborted) onAbort();
  streams.onResize((s) => {
    resizeExecSession(proc, s.height, s.width).catch((err: unknown) =>
      log.warn({ err, container: target.containerId, exec: session?.id }, "resizing an exec's terminal"),
    );
  });
  if (streams.stdin !== undefined) pumpStdin(streams, target, session, log);
  const exit = await session.finished;
  out.flush();
  streams.signal.removeEventListener("abort", onAbort);
  if (overflowed) {
    await streams.finish({ error: `the client fell more than ${MAX_STREAM_PENDING} bytes behind the output of exec ${session.id}; the process was killed` });
    return;
  }
  await streams.finish({ exitCode: exit.code, command: target.command });
}

/** Client stdin into the process, one write at a time (the stream pauses meanwhile); its end closes the process's stdin. */
function pumpStdin(streams: CommandStreams, target: ExecTarget, session: ExecSession, log: Logger): void {
  const stdin = streams.stdin;
  if (stdin === undefined) return;
  const proc = session.process;
  void (async () => {
    // Not destroyed at its end: the stream's own side stays open until finish() ends it.
    for await (const chunk of stdin.iterator({ destroyOnReturn: false })) await proc.writeStdin(chunk as Buffer);
    await endExecInput(proc, target.tty);
  })().catch((err: unknown) => {
    // The process exiting first closes its stdin under us: not worth a warning.
    if (!streams.signal.aborted) log.debug({ err, container: target.containerId, exec: session.id }, "exec stdin ended early");
  });
}
