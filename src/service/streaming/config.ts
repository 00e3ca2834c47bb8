// The streaming server's flags, checked as a set before hulld starts:
// --streaming-address (HOST:PORT, default loopback with a free port, as
// CRI-O's and containerd's defaults), --streaming-idle-timeout (the
// kubelet's streamIdleTimeout: Go-style durations such as 4h or 90s), and
// --streaming-tls (mutual TLS with the gRPC TCP listener's files). A
// container daemon's exec URL is remote root for whoever holds it, so an
// address others can reach is refused without mutual TLS.
import { isIP } from "node:net";
import { readFile } from "node:fs/promises";
import { HullError } from "../../errors.js";
import { parseHostPort } from "../tls.js";
import { DEFAULT_IDLE_TIMEOUT_MS, type StreamingOptions } from "./server.js";

export const DEFAULT_STREAMING_ADDRESS = "127.0.0.1:0";
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const MAX_IDLE_MS = 7 * 24 * 3_600_000;

export interface StreamingFlags {
  streamingAddress?: string;
  streamingIdleTimeout?: string;
  streamingTls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

export interface StreamingConfig {
  host: string;
  port: number;
  idleTimeoutMs: number;
  tls?: { certFile: string; keyFile: string; clientCaFile: string };
}

function configError(message: string): HullError {
  return new HullError("INVALID_ARGUMENT", message);
}

/** "4h", "1h30m", "90s", "500ms" → milliseconds; a bare number is seconds. */
export function parseDuration(flag: string, text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const parts = [...trimmed.matchAll(/(\d+)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed)
    throw configError(`${flag} ${text}: expected a duration such as 4h, 30m, 90s or 500ms`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? "s"] ?? 1000), 0);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

export function streamingConfigFrom(flags: StreamingFlags): StreamingConfig {
  const address = flags.streamingAddress ?? DEFAULT_STREAMING_ADDRESS;
  let parsed: { host: string; port: number };
  try {
    parsed = parseHostPort(address);
  } catch (err) {
    throw new HullError("INVALID_ARGUMENT", `--streaming-address ${address}: expected HOST:PORT (IPv6 as [ADDR]:PORT)`, {}, { cause: err });
  }
  const idleTimeoutMs =
    flags.streamingIdleTimeout === undefined ? DEFAULT_IDLE_TIMEOUT_MS : parseDuration("--streaming-idle-timeout", flags.streamingIdleTimeout);
  if (idleTimeoutMs < 1000 || idleTimeoutMs > MAX_IDLE_MS)
    throw configError(`--streaming-idle-timeout ${flags.streamingIdleTimeout ?? ""}: must be between 1s and 168h`);
  if (flags.streamingTls !== true) {
    if (!isLoopback(parsed.host)) {
      throw configError(
        `--streaming-address ${address} is reachable from other hosts: add --streaming-tls (with --tls-cert, --tls-key and --tls-client-ca) or listen on loopback`,
      );
    }
    return { ...parsed, idleTimeoutMs };
  }
  const missing = (["tlsCert", "tlsKey", "tlsClientCa"] as const).filter((k) => flags[k] === undefined || flags[k] === "");
  if (missing.length > 0) {
    const names = { tlsCert: "--tls-cert", tlsKey: "--tls-key", tlsClientCa: "--tls-client-ca" };
    throw configError(`--streaming-tls needs mutual TLS; missing ${missing.map((k) => names[k]).join(", ")}`);
  }
  return { ...parsed, idleTimeoutMs, tls: { certFile: flags.tlsCert ?? "", keyFile: flags.tlsKey ?? "", clientCaFile: flags.tlsClientCa ?? "" } };
}

/** The listener's options, with the TLS files read (an unreadable one is named). */
export async function streamingOptions(cfg: StreamingConfig): Promise<StreamingOptions> {
  if (cfg.tls === undefined) return { host: cfg.host, port: cfg.port, idleTimeoutMs: cfg.idleTimeoutMs };
  const read = async (flag: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new HullError("INVALID_ARGUMENT", `${flag} ${file}: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
  };
  const [cert, key, ca] = await Promise.all([
    read("--tls-cert", cfg.tls.certFile),
    read("--tls-key", cfg.tls.keyFile),
    read("--tls-client-ca", cfg.tls.clientCaFile),
  ]);
  return { host: cfg.host, port: cfg.port, idleTimeoutMs: cfg.idleTimeoutMs, tls: { cert, key, ca } };
}
