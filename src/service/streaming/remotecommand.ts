// Kubernetes' remotecommand protocol (exec and attach), server side, as the
// kubelet's streaming server speaks it behind CRI-O and containerd
// (k8s.io/kubelet/pkg/cri/streaming/remotecommand; the client is client-go's
// tools/remotecommand, which crictl, critest and the kubelet's proxy use):
// - protocol versions, negotiated by the X-Stream-Protocol-Version headers
//   (SPDY) or Sec-WebSocket-Protocol (WebSocket);
// - the error stream: v1–v3 carry a plain error text, v4 and v5 a JSON
//   metav1.Status whose NonZeroExitCode cause holds the exit code;
// - the resize stream: JSON TerminalSize objects ({"Width":W,"Height":H}).
// The transports (spdy-streams.ts, websocket.ts) turn a connection into
// CommandStreams; exec.ts and attach.ts run on those, unaware of which.
import type { Readable, Writable } from "node:stream";
import { invalidArgument } from "../../errors.js";
import { checkTerminalSize } from "../../validation/rules.js";

export const V1 = "channel.k8s.io";
export const V2 = "v2.channel.k8s.io";
export const V3 = "v3.channel.k8s.io";
export const V4 = "v4.channel.k8s.io";
export const V5 = "v5.channel.k8s.io";

/** What the kubelet's server accepts over SPDY, newest first (v5 adds only WebSocket's close signal). */
export const SPDY_COMMAND_PROTOCOLS = [V4, V3, V2, V1] as const;
/** Over WebSocket: v5 (with the stream-close signal) and v4. */
export const WEBSOCKET_COMMAND_PROTOCOLS = [V5, V4] as const;

export interface TerminalSize {
  width: number;
  height: number;
}

/** How a command ended, as the error stream reports it. */
export type CommandOutcome = { exitCode: number; command?: string[] } | { error: string } | { ok: true };

/** One exec or attach connection's streams, whichever transport carries them. */
export interface CommandStreams {
  /** The negotiated protocol (V1..V5). */
  readonly protocol: string;
  /** Present when the request asked for stdin; ends when the client closes its stdin. */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  /** Absent with a tty: the terminal merges it into stdout. */
  readonly stderr?: Writable;
  /** Called for each size the client's resize stream sends (v3 and later, tty only). */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Reports the outcome on the error stream, ends every stream and closes the connection. */
  finish(outcome: CommandOutcome): Promise<void>;
  /** Aborted once the client's connection is gone. */
  readonly signal: AbortSignal;
}

/** The streams a request expects (the kubelet counts them to know when the client is done opening). */
export interface ExpectedStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * The protocol to speak: the first the client offers that the server
 * supports (client order, as k8s.io/apimachinery's httpstream.Handshake).
 * A client that offers none gets the original protocol (V1); one whose
 * offers are all unknown gets undefined (refused with 403).
 */
export function negotiateProtocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  const clean = offered.map((p) => p.trim()).filter((p) => p !== "");
  if (clean.length === 0) return supported.includes(V1) ? V1 : undefined;
  return clean.find((p) => supported.includes(p));
}

/** The header's values, however the client repeated or comma-joined them. */
export function headerValues(value: string | string[] | undefined): string[] {
  const all = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return all.flatMap((v) => v.split(",")).map((v) => v.trim());
}

/** What the error stream carries for outcome under protocol; undefined: nothing (success before v4). */
export function errorStreamMessage(protocol: string, outcome: CommandOutcome): Buffer | undefined {
  const v4 = protocol === V4 || protocol === V5;
  if ("ok" in outcome || ("exitCode" in outcome && outcome.exitCode === 0)) {
    return v4 ? Buffer.from(JSON.stringify({ metadata: {}, status: "Success" })) : undefined;
  }
  if ("exitCode" in outcome && outcome.exitCode > 0 && outcome.exitCode <= 255) {
    const what = outcome.command ? `error executing command [${outcome.command.join(" ")}], ` : "";
    const message = `command terminated with non-zero exit code: ${what}exit code ${outcome.exitCode}`;
    if (!v4) return Buffer.from(message);
    return Buffer.from(
      JSON.stringify({
        metadata: {},
        status: "Failure",
        message,
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: String(outcome.exitCode) }] },
      }),
    );
  }
  // An exit code outside 0..255 cannot be a NonZeroExitCode cause (client-go parses it as uint8).
  const message = "error" in outcome ? outcome.error : `command ended without an exit status (${outcome.exitCode})`;
  if (!v4) return Buffer.from(message);
  return Buffer.from(
    JSON.stringify({
      metadata: {},
      status: "Failure",
      message: `Internal error occurred: ${message}`,
      reason: "InternalError",
      details: { causes: [{ message }] },
      code: 500,
    }),
  );
}

/** Largest resize message buffered while waiting for its end; client-go sends ~30 bytes. */
const MAX_RESIZE_MESSAGE = 4096;

/**
 * Splits the resize stream into sizes. client-go writes one JSON object per
 * size (json.Encoder: newline-terminated); objects are found by their braces,
 * so concatenated ones parse too. A malformed or out-of-range size is an
 * INVALID_ARGUMENT naming the resize stream.
 */
export class ResizeDecoder {
  private pending = "";

  push(chunk: Buffer): TerminalSize[] {
    this.pending += chunk.toString("utf8");
    const sizes: TerminalSize[] = [];
    for (;;) {
      const start = this.pending.indexOf("{");
      if (start < 0) {
        if (this.pending.trim() !== "") throw invalidArgument("resize", `unexpected ${JSON.stringify(this.pending.slice(0, 40))} on the resize stream`);
        this.pending = "";
        return sizes;
      }
      if (this.pending.slice(0, start).trim() !== "")
        throw invalidArgument("resize", `unexpected ${JSON.stringify(this.pending.slice(0, 40))} on the resize stream`);
      const end = this.pending.indexOf("}", start);
      if (end < 0) {
        if (this.pending.length > MAX_RESIZE_MESSAGE) throw invalidArgument("resize", `a resize message longer than ${MAX_RESIZE_MESSAGE} bytes`);
        this.pending = this.pending.slice(start);
        return sizes;
      }
      const size = parseSize(this.pending.slice(start, end + 1));
      // A client that does not know its terminal's size sends zeros: nothing to apply.
      if (size !== undefined) sizes.push(size);
      this.pending = this.pending.slice(end + 1);
    }
  }
}

function parseSize(text: string): TerminalSize | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidArgument("resize", `${JSON.stringify(text.slice(0, 60))} is not JSON`);
  }
  const o = parsed as { Width?: unknown; Height?: unknown };
  if (typeof o.Width !== "number" || typeof o.Height !== "number") throw invalidArgument("resize", `${text.slice(0, 60)} lacks numeric Width and Height`);
  const size = { width: o.Width, height: o.Height };
  if (size.width === 0 || size.height === 0) return undefined;
  checkTerminalSize("resize", size);
  return size;
}
