// `hull logs`: podman's logs command over the ContainerLogs stream. The
// container's stdout goes to stdout and its stderr to stderr, byte for byte:
// a full line gets its newline back, a partial line (P) none, so output the
// container wrote without a newline comes out the same way.
import { once } from "node:events";
import type { Command } from "commander";
import { OutputStream, type ContainerLogsRequest, type ContainerLogsResponse, type LogLine, type OutputFrame } from "../gen/hull/v1/container.js";
import { UsageError, parseInteger } from "./parse.js";
import type { Session } from "./session.js";
import { parseInputTime } from "./time-input.js";

export interface LogsOptions {
  follow?: boolean;
  tail?: string;
  since?: string;
  until?: string;
  timestamps?: boolean;
}

/** The request for `hull logs` options; `now` for relative times. Throws UsageError. */
export function logsRequest(id: string, opts: LogsOptions, now = Date.now()): ContainerLogsRequest {
  // podman: a negative tail (its default, -1) means every line.
  const tail = opts.tail === undefined ? undefined : parseInteger("--tail", opts.tail, -1);
  const since = opts.since === undefined ? undefined : parseInputTime("--since", opts.since, true, now);
  const until = opts.until === undefined ? undefined : parseInputTime("--until", opts.until, false, now);
  if (since && until && since.getTime() > until.getTime()) {
    throw new UsageError(`--since (${since.toISOString()}) is after --until (${until.toISOString()})`);
  }
  return {
    id,
    follow: opts.follow === true,
    tail: tail === undefined || tail < 0 ? undefined : tail,
    since,
    until,
    timestamps: opts.timestamps === true,
    // Without timestamps the bytes are all hull prints: take them as output frames, not a LogLine per line.
    raw: opts.timestamps !== true,
    // Neither set: both streams.
    stdout: false,
    stderr: false,
  };
}

const NEWLINE = Buffer.from("\n");

/** Go's RFC3339Nano (trailing zeros of the fraction dropped), in UTC: all a Date keeps is milliseconds. */
export function rfc3339Nano(t: Date): string {
  return t.toISOString().replace(/\.?0+Z$/, "Z");
}

/** Writes lines to the two outputs; with timestamps, each line of output starts with its time. */
export class LogPrinter {
  // Per stream: inside a line that P records began, where no timestamp goes.
  private readonly midLine = { out: false, err: false };

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
    private readonly timestamps: boolean,
    /** Aborted when an output is gone: stop waiting for it to drain. */
    private readonly signal?: AbortSignal,
  ) {}

  /** Writes a response's lines or frames; resolves once both outputs can take more. */
  async print(res: Pick<ContainerLogsResponse, "lines" | "output">): Promise<void> {
    if (res.output.length > 0) await this.printFrames(res.output);
    if (res.lines.length > 0) await this.printLines(res.lines);
  }

  /** Raw output (no timestamps): each frame as it is. */
  private async printFrames(frames: OutputFrame[]): Promise<void> {
    let outFull = false;
    let errFull = false;
    for (const f of frames) {
      if (f.stream === OutputStream.OUTPUT_STREAM_STDERR) errFull = !this.err.write(f.data) || errFull;
      else outFull = !this.out.write(f.data) || outFull;
    }
    await this.drained(outFull, errFull);
  }

  private async printLines(lines: LogLine[]): Promise<void> {
    let outFull = false;
    let errFull = false;
    // One write per run of same-stream lines: fewer syscalls, and stdout and
    // stderr still interleave as logged when both go to one terminal.
    let run: Buffer[] = [];
    let runToErr = false;
    const flush = (): void => {
      if (run.length === 0) return;
      const ok = (runToErr ? this.err : this.out).write(run.length === 1 ? run[0]! : Buffer.concat(run));
      if (!ok && runToErr) errFull = true;
      if (!ok && !runToErr) outFull = true;
      run = [];
    };
    for (const line of lines) {
      const toErr = line.stream === OutputStream.OUTPUT_STREAM_STDERR;
      if (toErr !== runToErr) flush();
      runToErr = toErr;
      const key = toErr ? "err" : "out";
      if (this.timestamps && !this.midLine[key] && line.time) run.push(Buffer.from(`${rfc3339Nano(line.time)} `));
      run.push(line.data);
      if (line.full) run.push(NEWLINE);
      this.midLine[key] = !line.full;
    }
    flush();
    await this.drained(outFull, errFull);
  }

  private async drained(outFull: boolean, errFull: boolean): Promise<void> {
    const opts = this.signal ? { signal: this.signal } : {};
    if (outFull) await once(this.out, "drain", opts);
    if (errFull) await once(this.err, "drain", opts);
  }
}

export function registerLogsCommands(program: Command, session: Session): void {
  program
    .command("logs")
    .description("print a container's output (stdout to stdout, stderr to stderr)")
    .option("-f, --follow", "keep printing new output until the container exits")
    .option("--tail <lines>", "only the last N lines (-1: all)")
    .option("--since <time>", "only output since TIME: RFC3339, a unix timestamp, or a duration back from now (10m)")
    .option("--until <time>", "only output until TIME: RFC3339, a unix timestamp, or a duration from now")
    .option("-t, --timestamps", "start each line with its time (RFC3339Nano, UTC)")
    .argument("<id>")
    .action(async (id: string, opts: LogsOptions) => {
      const request = logsRequest(id, opts);
      const client = await session.connect();
      const call = client.containerLogs(request);
      // `hull logs ID | head` closes our stdout: stop the stream and exit quietly, as podman does.
      const outputGone = new AbortController();
      const onOutputError = (err: NodeJS.ErrnoException): void => {
        if (outputGone.signal.aborted) return;
        outputGone.abort();
        call.cancel();
        if (err.code !== "EPIPE") session.report(err);
      };
      process.stdout.on("error", onOutputError);
      process.stderr.on("error", onOutputError);
      const printer = new LogPrinter(process.stdout, process.stderr, request.timestamps, outputGone.signal);
      try {
        // Async iteration pulls one response at a time: a slow terminal slows the stream, not memory.
        for await (const res of call as AsyncIterable<ContainerLogsResponse>) await printer.print(res);
      } catch (err) {
        if (!outputGone.signal.aborted) session.report(err);
      } finally {
        process.stdout.off("error", onOutputError);
        process.stderr.off("error", onOutputError);
      }
    });
}
