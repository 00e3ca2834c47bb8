// AttachContainer: the seed's Attach and StartAndAttach.
//
// Where output comes from:
// - without logs: from the client's own connection to conmon's attach
//   socket, connected before the container starts (start = true), so even a
//   container that prints and exits at once loses nothing (podman #835);
// - start without stdin: from the log, from where it stood before the start
//   (the socket would only carry output, and conmon blocks on it);
// - with logs: all of it from the k8s-file log, replayed from its start and
//   then followed, and the attach socket (if stdin is wanted) carries stdin
//   only. One source means no seam: nothing is lost or sent twice between the
//   replay and live output (podman #26951), however fast the container writes.
//
// The exit code is sent after the last output: conmon closes attach clients
// only after draining the container's output into them (and into the log),
// and writes the exit file after that; hulld records the exit from that file.
import { OutputStream, type AttachContainerRequest, type AttachOpen, type Container, type TerminalSize } from "../gen/hull/v1/container.js";
import type { AttachOptions } from "../domain/attach-options.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError, invalidArgument, wrapError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { AttachStream, OutputStreamName } from "../oci/runtime.js";
import { logPosition, queryLogBatches, type LogPosition } from "../oci/logfile.js";
import { LogScanner, STDOUT, type RecordVisitor } from "../oci/logline.js";
import type { Engine } from "../engine/engine.js";
import { checkDependenciesRunning } from "./dependencies.js";
import { initLocked } from "./init.js";
import { startDependencies, startLocked } from "./start.js";
import { ClientOutput, LogFramer, type MessageWriter } from "./attach-output.js";
import { DetachMatcher } from "../domain/detach-keys.js";
import { resizeTerminal } from "./resize.js";

const S = ContainerState;

/** The client's side of one AttachContainer call. */
export interface AttachPeer {
  messages: AsyncIterator<AttachContainerRequest>;
  write: MessageWriter;
  /** Aborted when the client cancels. */
  signal: AbortSignal;
  /** The API form of a record, for the attached message. */
  describe(rec: ContainerRecord): Container;
  /** Told the container's full id once it is resolved (for tracing). */
  resolved?(id: string): void;
}

function cancelled(id: string): HullError {
  return new HullError("DEADLINE_EXCEEDED", `attach to container ${id.slice(0, 12)} cancelled by the client`, { container: id });
}

/** The next client message; undefined once the client has half-closed. */
async function nextMessage(peer: AttachPeer, what: string): Promise<AttachContainerRequest | undefined> {
  if (peer.signal.aborted) throw cancelled(what);
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(cancelled(what));
    peer.signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const r = await Promise.race([peer.messages.next(), aborted]);
    return r.done ? undefined : r.value;
  } finally {
    peer.signal.removeEventListener("abort", onAbort);
  }
}

type ExitSeen = { code: number } | { removed: true };

/** The container's next exit (or removal), from the state bus. Subscribe under the lock: nothing is missed. */
function watchExit(engine: Engine, id: string): { exited: Promise<ExitSeen>; stop: () => void } {
  let seen: (e: ExitSeen) => void = () => undefined;
  const exited = new Promise<ExitSeen>((resolve) => (seen = resolve));
  const stop = engine.bus.subscribe(
    id,
    (rec) => {
      if (rec.state === S.CONTAINER_STATE_STOPPED || rec.state === S.CONTAINER_STATE_EXITED) seen({ code: rec.exitCode });
    },
    () => seen({ removed: true }),
  );
  return { exited, stop };
}

function tagOf(stream: OutputStreamName): OutputStream {
  return stream === "stdout" ? OutputStream.OUTPUT_STREAM_STDOUT : OutputStream.OUTPUT_STREAM_STDERR;
}

/** The call's first message, which must open the attach (its fields are the caller's to check). */
export async function readOpen(peer: AttachPeer): Promise<AttachOpen> {
  const first = await nextMessage(peer, "(not yet opened)");
  if (first?.message?.$case !== "open") {
    throw invalidArgument("open", "the first message of AttachContainer must be open, naming the container");
  }
  return first.message.value;
}

/** How an attach went, for its caller to report (AttachContainer sends it as trailers). */
export interface AttachSummary {
  /**
   * How many times the client fell more than the queue limit behind the
   * socket and was moved to reading the log file (0 or 1: the move is one
   * way). Counted so tests and benchmarks can see how often the live path
   * keeps up. 0 for a start-and-attach without stdin: it reads the log from
   * the start and never uses the socket.
   */
  logFallbacks: number;
}

/**
 * Runs one attach with its checked options (the open message, or HTTP
 * attach's query); peer.messages are the client's messages after the open.
 * Resolves when the call should end OK.
 */
export async function attachContainer(engine: Engine, peer: AttachPeer, opts: AttachOptions): Promise<AttachSummary> {
  const id = await engine.resolve(opts.ref);
  peer.resolved?.(id);
  if (opts.start && opts.recursive) await startDependencies(engine, id);
  const session = new AttachSession(engine, peer, opts, id);
  await session.run();
  return { logFallbacks: session.logFallbacks };
}

class AttachSession {
  private readonly output: ClientOutput;
  private conn?: AttachStream;
  private exit?: { exited: Promise<ExitSeen>; stop: () => void };
  private readonly scanner: DetachMatcher;
  private readonly readerAbort = new AbortController();
  private readonly done: Promise<void>;
  private settle: (err?: Error) => void = () => undefined;
  private finished = false;
  private wants = { stdin: false, stdout: true, stderr: true };
  /** Whether stdin reaches the container (it was created with stdin). */
  private forwardStdin = false;
  private stdinClosed = false;
  /**
   * Where the log stood when this attach connected, for a container this
   * attach starts: output after it is exactly what the socket carries, so a
   * client that falls behind can be moved to the log without loss or repeat.
   */
  private spillFrom?: LogPosition;
  /** Set once output comes from the log instead of the socket. */
  private spilled = false;
  /** Output comes from the log from spillFrom on; the socket is not connected. */
  private fromLog = false;
  /** Times output moved from the socket to the log (AttachSummary). */
  logFallbacks = 0;
  /** Bytes of each stream taken from the socket so far. */
  private readonly fromSocket = { stdout: 0, stderr: 0 };
  private logPath = "";

  constructor(
    private readonly engine: Engine,
    private readonly peer: AttachPeer,
    private readonly opts: AttachOptions,
    private readonly id: string,
  ) {
    const what = `attach to container ${id.slice(0, 12)}`;
    this.output = new ClientOutput(peer.write, (err) => this.fail(err), what);
    this.scanner = new DetachMatcher(opts.detachKeys);
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    // A failure may come before run() awaits it; it is still reported there.
    this.done.catch(() => undefined);
  }

  async run(): Promise<void> {
    const onAbort = (): void => this.fail(cancelled(this.id));
    this.peer.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const rec = await this.engine.withLock(this.id, "attach", (current) => this.connectLocked(current));
      this.output.open({ message: { $case: "attached", value: this.peer.describe(rec) } });
      const flag = (b: boolean): string => String(b);
      await this.engine.event("attach", rec, {
        stdin: flag(this.wants.stdin),
        stdout: flag(this.wants.stdout),
        stderr: flag(this.wants.stderr),
        logs: flag(this.opts.logs),
        start: flag(this.opts.start),
      });
      this.pumpInput().catch((err: unknown) => this.fail(err));
      if (this.opts.logs) this.pumpLog(rec.logPath).catch((err: unknown) => this.fail(err));
      else if (this.fromLog && this.spillFrom)
        this.pumpLog(rec.logPath, { from: this.spillFrom, skip: { stdout: 0, stderr: 0 } }).catch((err: unknown) => this.fail(err));
      if (this.peer.signal.aborted) onAbort();
      await this.done;
    } finally {
      this.peer.signal.removeEventListener("abort", onAbort);
      this.finished = true;
      this.conn?.close();
      this.exit?.stop();
      this.readerAbort.abort();
      this.output.close();
    }
  }

  /** Under the container's lock: init if starting, connect, then start. */
  private async connectLocked(current: ContainerRecord): Promise<ContainerRecord> {
    let rec = current;
    if (this.opts.start && checkOperation(rec.id, rec.state, "start") === "act") {
      await checkDependenciesRunning(this.engine, rec);
      if (rec.state !== S.CONTAINER_STATE_CREATED) rec = await initLocked(this.engine, rec);
    }
    checkOperation(rec.id, rec.state, "attach");
    this.wants = this.opts.streams ?? { stdin: rec.config.stdin, stdout: true, stderr: true };
    this.forwardStdin = this.wants.stdin && rec.config.stdin;
    const starting = !this.opts.logs && this.opts.start && rec.state === S.CONTAINER_STATE_CREATED;
    // A start-and-attach without stdin has nothing to send the container, so
    // its output is served from the log from the start position on, and
    // conmon's attach socket is never connected: conmon's blocking writes to
    // attach clients then never wait on hulld (as `kubectl logs -f` and
    // CRI-O's log-based follow never stall the container). The log holds the
    // same bytes: conmon logs a tty's output as stdout records, as the socket
    // sends it.
    this.fromLog = starting && !this.wants.stdin;
    const needSocket = this.opts.logs ? this.opts.stream && this.forwardStdin : !this.fromLog;
    this.exit = watchExit(this.engine, rec.id);
    this.logPath = rec.logPath;
    if (starting) this.spillFrom = await logPosition(rec.logPath);
    if (needSocket) {
      try {
        this.conn = await this.engine.runtime.attach(rec.id, {
          output: (stream, data) => this.socketOutput(stream, data),
          end: () => {
            if (!this.opts.logs && !this.spilled) this.outputEnded();
          },
          error: (err) =>
            this.fail(new HullError("INTERNAL", `attach to container ${rec.id.slice(0, 12)}: conmon's attach socket: ${err.message}`, { container: rec.id })),
        });
      } catch (err) {
        // The container may have exited since the sync: say so rather than "cannot connect".
        const again = await this.engine.sync(rec.id);
        checkOperation(again.id, again.state, "attach");
        throw err;
      }
    }
    if (this.opts.start && rec.state === S.CONTAINER_STATE_CREATED) {
      try {
        rec = await startLocked(this.engine, rec);
      } catch (err) {
        this.conn?.close();
        throw err;
      }
    }
    return rec;
  }

  /**
   * Output from conmon's socket. With the log as a lossless second source
   * (spillFrom), a client that falls too far behind is moved to reading the
   * log at its own pace instead of being dropped.
   */
  private socketOutput(stream: OutputStreamName, data: Buffer): void {
    // With logs the log file is the one source of output.
    if (this.opts.logs || !this.wants[stream] || this.spilled) return;
    if (this.spillFrom && this.output.waiting + data.length > this.output.limit) {
      this.spilled = true;
      this.logFallbacks++;
      const skip = { ...this.fromSocket };
      this.pumpLog(this.logPath, { from: this.spillFrom, skip }).catch((err: unknown) => this.fail(err));
      return;
    }
    this.fromSocket[stream] += data.length;
    this.output.output(tagOf(stream), data);
  }

  /** Client messages: stdin (scanned for the detach keys), resizes (sizes checked by the caller: validateAttachInput), close-stdin. */
  private async pumpInput(): Promise<void> {
    for (;;) {
      const msg = await nextMessage(this.peer, this.id);
      // A client that half-closes only stops sending; output goes on.
      if (msg === undefined || this.finished) return;
      const m = msg.message;
      switch (m?.$case) {
        case "open":
          throw invalidArgument("open", "only the first message may open the attach");
        case "stdin":
          if (await this.stdin(m.value)) return;
          break;
        case "resize":
          await this.resize(m.value);
          break;
        case "closeStdin":
          if (m.value) await this.closeStdin();
          break;
        default:
          throw invalidArgument("message", "empty AttachContainerRequest: set stdin, resize or close_stdin");
      }
    }
  }

  /** Returns true once the client detached. */
  private async stdin(data: Buffer): Promise<boolean> {
    if (!this.wants.stdin) throw invalidArgument("stdin", "this attach was opened without stdin");
    if (this.stdinClosed) throw invalidArgument("stdin", "stdin was already closed (close_stdin)");
    const { forward, detached } = this.scanner.push(data);
    // Bytes before the detach keys still reach the container; the keys do not.
    // Without stdin in the container's config they are only scanned for the keys.
    if (forward.length > 0 && this.forwardStdin) await this.conn?.writeStdin(forward);
    if (detached) {
      this.output.control({ message: { $case: "detached", value: true } });
      this.finish();
    }
    return detached;
  }

  private async closeStdin(): Promise<void> {
    if (!this.wants.stdin) throw invalidArgument("close_stdin", "this attach was opened without stdin");
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    const held = this.scanner.flush();
    if (held.length > 0 && this.forwardStdin) await this.conn?.writeStdin(held);
    this.conn?.closeStdin();
  }

  private async resize(size: TerminalSize): Promise<void> {
    try {
      await resizeTerminal(this.engine, this.id, size);
    } catch (err) {
      // Exited meanwhile: the exit code is on its way, the resize is moot.
      if (err instanceof HullError && err.reason === "CONTAINER_STATE_INVALID" && err.metadata.tty !== "false") return;
      throw err;
    }
  }

  /**
   * Replays the log, and with stream follows it until the container exits.
   * Records are walked in place (LogScanner) and their output copied into
   * frames (LogFramer): no object per record, so this path keeps up with
   * the socket's.
   */
  private async pumpLog(logPath: string, resume?: { from: LogPosition; skip: Record<OutputStreamName, number> }): Promise<void> {
    const exited = this.exit?.exited;
    const skip = resume?.skip ?? { stdout: 0, stderr: 0 };
    const framer = new LogFramer((stream, data, headroom) => this.output.frame(stream, data, headroom));
    const wants = this.wants;
    const visit: RecordVisitor = (stream, full, data, msgStart, msgEnd) => {
      const name: OutputStreamName = stream === STDOUT ? "stdout" : "stderr";
      if (!wants[name]) return;
      // A full record's newline in the file is the output's own.
      const end = full ? msgEnd + 1 : msgEnd;
      let from = msgStart;
      // What the socket already delivered: the same bytes, in the same order.
      if (skip[name] > 0) {
        const drop = Math.min(skip[name], end - from);
        skip[name] -= drop;
        from += drop;
      }
      framer.add(tagOf(name), data, from, end);
    };
    // Resumed from a start position (socket fallback or log from the start): follow until the exit.
    const follow = resume !== undefined || this.opts.stream;
    const chunks = queryLogBatches(logPath, {
      follow,
      signal: this.readerAbort.signal,
      records: { scanner: new LogScanner(), visit },
      ...(exited ? { untilDone: () => exited.then(() => true) } : {}),
      ...(resume ? { from: resume.from } : {}),
    });
    // The batches are empty (records went to visit); each marks one chunk read.
    for await (const batch of chunks) {
      void batch;
      if (this.finished) return;
      framer.flush();
      // The file waits for a slow client: hold back rather than queue without bound.
      if (this.output.waiting > this.output.limit / 2) await this.output.below(this.output.limit / 4);
    }
    if (this.finished) return;
    framer.flush();
    if (follow) this.outputEnded();
    else this.finish();
  }

  /** All output is out: send the exit code once hulld has recorded the exit. */
  private outputEnded(): void {
    void this.exit?.exited.then((seen) => {
      if (this.finished) return;
      if ("removed" in seen) {
        this.fail(new HullError("CONTAINER_NOT_FOUND", `container ${this.id.slice(0, 12)} was removed while attached`, { container: this.id }));
        return;
      }
      this.output.control({ message: { $case: "exitCode", value: seen.code } });
      this.finish();
    });
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // Out before the call ends: the last output, then the exit code or detached.
    this.output.flush();
    this.settle();
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.settle(wrapError(err, this.id, "attach to"));
  }
}
