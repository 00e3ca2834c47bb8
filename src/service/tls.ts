// The TCP listener: mutual TLS only. A container daemon reachable over the
// network without client certificates is remote root for anyone who can
// connect, so hulld refuses to listen on TCP without all three TLS files.
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { isIP } from "node:net";
import { ServerCredentials } from "@grpc/grpc-js";
import { HullError } from "../errors.js";

export interface TcpListenerConfig {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  clientCaFile: string;
}

/** The flags as given; any of them may be missing. */
export interface TcpFlags {
  listenTcp?: string;
  /** The streaming server uses the same TLS files. */
  streamingTls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

function configError(message: string): HullError {
  return new HullError("INVALID_ARGUMENT", message);
}

/** Parses HOST:PORT (IPv6 as [::1]:PORT); port 0 picks a free port. */
export function parseHostPort(spec: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(spec) ?? /^([^:[\]]+):(\d+)$/.exec(spec);
  if (!m) throw configError(`--listen-tcp ${spec}: expected HOST:PORT (IPv6 as [ADDR]:PORT)`);
  const host = m[1] ?? "";
  const port = Number(m[2]);
  if (port > 65535) throw configError(`--listen-tcp ${spec}: port ${port} is out of range`);
  if (spec.startsWith("[") && isIP(host) !== 6) throw configError(`--listen-tcp ${spec}: ${host} is not an IPv6 address`);
  return { host, port };
}

/**
 * Checks the TCP flags as a set: --listen-tcp needs all of --tls-cert,
 * --tls-key and --tls-client-ca; the TLS flags without --listen-tcp are
 * refused too (they would be silently ignored otherwise).
 */
export function tcpListenerFrom(flags: TcpFlags): TcpListenerConfig | undefined {
  const tlsGiven = (["tlsCert", "tlsKey", "tlsClientCa"] as const).filter((k) => flags[k] !== undefined && flags[k] !== "");
  if (flags.listenTcp === undefined || flags.listenTcp === "") {
    if (tlsGiven.length > 0 && flags.streamingTls !== true)
      throw configError(`${tlsGiven.map(flagName).join(", ")} given without --listen-tcp or --streaming-tls`);
    return undefined;
  }
  const missing = (["tlsCert", "tlsKey", "tlsClientCa"] as const).filter((k) => !tlsGiven.includes(k));
  if (missing.length > 0) {
    throw configError(
      `--listen-tcp ${flags.listenTcp} needs mutual TLS; missing ${missing.map(flagName).join(", ")} (the TCP listener serves only clients with a certificate signed by --tls-client-ca)`,
    );
  }
  const { host, port } = parseHostPort(flags.listenTcp);
  return { host, port, certFile: flags.tlsCert ?? "", keyFile: flags.tlsKey ?? "", clientCaFile: flags.tlsClientCa ?? "" };
}

function flagName(key: "tlsCert" | "tlsKey" | "tlsClientCa"): string {
  return { tlsCert: "--tls-cert", tlsKey: "--tls-key", tlsClientCa: "--tls-client-ca" }[key];
}

/** Reads the PEM files; every unreadable one is named, in the flags' order (not whichever read failed first). */
async function readPems(files: ReadonlyArray<readonly [flag: string, file: string]>): Promise<Buffer[]> {
  const read = await Promise.allSettled(files.map(([, file]) => readFile(file)));
  const problems = read.flatMap((r, i) =>
    r.status === "rejected" ? [`${files[i][0]} ${files[i][1]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : [],
  );
  const first = read.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (first) throw new HullError("INVALID_ARGUMENT", problems.join("; "), {}, { cause: first.reason });
  return read.map((r) => (r as PromiseFulfilledResult<Buffer>).value);
}

/**
 * Loads the PEM files and checks they form a usable TLS context now, so a
 * bad key is a start-up error rather than every handshake failing later.
 * checkClientCertificate=true: a client without a certificate the CA signed
 * never completes the handshake.
 */
export async function serverCredentials(cfg: TcpListenerConfig): Promise<ServerCredentials> {
  const [cert, key, ca] = await readPems([
    ["--tls-cert", cfg.certFile],
    ["--tls-key", cfg.keyFile],
    ["--tls-client-ca", cfg.clientCaFile],
  ]);
  try {
    createSecureContext({ cert, key, ca });
  } catch (err) {
    throw new HullError(
      "INVALID_ARGUMENT",
      `TLS files --tls-cert ${cfg.certFile} --tls-key ${cfg.keyFile} --tls-client-ca ${cfg.clientCaFile} are unusable: ${err instanceof Error ? err.message : String(err)}`,
      {},
      { cause: err },
    );
  }
  return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true);
}

/** The address string grpc-js binds: IPv6 hosts in brackets. */
export function bindAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
