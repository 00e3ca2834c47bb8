// The pipes hulld shares with a conmon it starts in exec mode: line-by-line
// JSON messages (sync and attach pipes), its captured stderr, and a bounded
// wait for each handshake step.
import type { Readable } from "node:stream";

const MAX_CAPTURE = 16 * 1024;

/** Reads newline-terminated lines from a pipe, one at a time. */
export class LineReader {
  private buf = "";
  private readonly lines: string[] = [];
  private waiters: ((line: string | undefined) => void)[] = [];
  private eof = false;
  readonly closed: Promise<void>;

  constructor(stream: Readable) {
    let onClosed: () => void = () => undefined;
    this.closed = new Promise((resolve) => (onClosed = resolve));
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
        this.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    const end = (): void => {
      if (this.eof) return;
      if (this.buf.trim() !== "") this.push(this.buf.trim());
      this.buf = "";
      this.eof = true;
      for (const w of this.waiters.splice(0)) w(undefined);
      onClosed();
    };
    stream.on("end", end);
    stream.on("close", end);
    stream.on("error", end);
  }

  private push(line: string): void {
    const w = this.waiters.shift();
    if (w) w(line);
    else this.lines.push(line);
  }

  /** The next line, or undefined at end of file. */
  next(): Promise<string | undefined> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.eof) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface SyncMessage {
  data: number;
  message: string;
}

export function parseSync(line: string | undefined): SyncMessage | undefined {
  if (line === undefined) return undefined;
  try {
    const v = JSON.parse(line) as { data?: unknown; message?: unknown };
    if (typeof v.data !== "number") return undefined;
    return { data: v.data, message: typeof v.message === "string" ? v.message : "" };
  } catch {
    return undefined;
  }
}

export function capture(stream: Readable | null): () => string {
  let text = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    if (text.length < MAX_CAPTURE) text += chunk.slice(0, MAX_CAPTURE - text.length);
  });
  stream?.on("error", () => undefined);
  return () =>
    text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.includes("oom_score_adj"))
      .join("; ");
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
