#!/usr/bin/env -S node --max-semi-space-size=2
// hulld: the container daemon. Flags override env vars override defaults.
// --max-semi-space-size on the #! line: V8 grows the young generation to 2 × 16 MiB
// while modules load and keeps it, so an idle hulld held 15 MiB of empty young
// space (bench/rss.ts; V8 fixes the limit when the heap is made, so it cannot be
// set from here). 2 MiB semispaces keep scavenges cheap for a daemon whose
// garbage rarely survives, as Go's runtime in containerd and CRI-O returns idle heap.
import { Command, InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { resolve } from "node:path";
import { startDaemon } from "./daemon.js";
import { setupTracing } from "./tracing.js";
import { DEFAULT_LIMITS } from "./service/server.js";
import { tcpListenerFrom } from "./service/tls.js";
import { DEFAULT_STREAMING_ADDRESS, streamingConfigFrom } from "./service/streaming/config.js";
import { DEFAULT_CNI_CONFIG_DIR, DEFAULT_CNI_PLUGIN_DIRS, DEFAULT_PAUSE_IMAGE } from "./network/pod-environment.js";

interface Flags {
  socket: string;
  root: string;
  runRoot: string;
  runtime: string;
  conmon?: string;
  httpSocket?: string;
  logLevel: string;
  socketGroup?: string;
  listenTcp?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  maxMessageBytes: number;
  maxSendMessageBytes: number;
  maxConcurrentStreams: number;
  registriesConf?: string;
  cniConfigDir: string;
  cniPluginDir: string;
  pauseImage: string;
  streamingAddress: string;
  streamingIdleTimeout: string;
  streamingTls?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

const program = new Command("hulld")
  .description("hull container daemon: hull.v1.ContainerService over gRPC on a unix socket (and TCP with mutual TLS)")
  .addOption(new Option("--socket <path>", "unix socket to serve on").env("HULL_SOCKET").default("/run/hull/hull.sock"))
  .addOption(new Option("--root <dir>", "state root: store, container dirs").env("HULL_ROOT").default("/var/lib/hull"))
  .addOption(new Option("--run-root <dir>", "run root: bundles, exit files, sockets").env("HULL_RUN_ROOT").default("/run/hull"))
  .addOption(new Option("--runtime <name|path>", "OCI runtime: runc, crun or a path").env("HULL_RUNTIME").default("runc"))
  .addOption(new Option("--conmon <path>", "conmon binary").env("HULL_CONMON"))
  .addOption(new Option("--log-level <level>", "log level").env("HULL_LOG_LEVEL").default("info").choices(["trace", "debug", "info", "warn", "error", "fatal"]))
  .addOption(new Option("--http-socket <path>", "also serve Docker-style HTTP attach on this unix socket").env("HULL_HTTP_SOCKET"))
  .addOption(new Option("--socket-group <name|gid>", "group owning the unix sockets (mode 0660); default root").env("HULL_SOCKET_GROUP"))
  .addOption(new Option("--listen-tcp <host:port>", "also serve on TCP; needs --tls-cert, --tls-key and --tls-client-ca").env("HULL_LISTEN_TCP"))
  .addOption(new Option("--tls-cert <file>", "TCP listener: server certificate chain (PEM)").env("HULL_TLS_CERT"))
  .addOption(new Option("--tls-key <file>", "TCP listener: server private key (PEM)").env("HULL_TLS_KEY"))
  .addOption(new Option("--tls-client-ca <file>", "TCP listener: CA (PEM) that must have signed every client's certificate").env("HULL_TLS_CLIENT_CA"))
  .addOption(
    new Option("--max-message-bytes <n>", "largest message hulld accepts")
      .env("HULL_MAX_MESSAGE_BYTES")
      .argParser(positiveInt)
      .default(DEFAULT_LIMITS.maxReceiveMessageBytes),
  )
  .addOption(
    new Option("--max-send-message-bytes <n>", "largest message hulld sends")
      .env("HULL_MAX_SEND_MESSAGE_BYTES")
      .argParser(positiveInt)
      .default(DEFAULT_LIMITS.maxSendMessageBytes),
  )
  .addOption(
    new Option("--max-concurrent-streams <n>", "concurrent calls per connection")
      .env("HULL_MAX_CONCURRENT_STREAMS")
      .argParser(positiveInt)
      .default(DEFAULT_LIMITS.maxConcurrentStreams),
  )
  .addOption(
    new Option("--registries-conf <file>", "registry mirrors and rewrites for every pull (containers-registries.conf(5) [[registry]] tables)").env(
      "HULL_REGISTRIES_CONF",
    ),
  )
  .addOption(
    new Option("--cni-config-dir <dir>", "CNI network configs for pods (the first valid one is used)")
      .env("HULL_CNI_CONFIG_DIR")
      .default(DEFAULT_CNI_CONFIG_DIR),
  )
  .addOption(
    new Option("--cni-plugin-dir <dirs>", "comma-separated dirs searched for CNI plugins")
      .env("HULL_CNI_PLUGIN_DIR")
      .default(DEFAULT_CNI_PLUGIN_DIRS.join(",")),
  )
  .addOption(
    new Option("--pause-image <ref>", "infra container image for pods that share a PID namespace").env("HULL_PAUSE_IMAGE").default(DEFAULT_PAUSE_IMAGE),
  )
  .addOption(
    new Option("--streaming-address <host:port>", "CRI streaming server (exec, attach, port-forward URLs); off loopback it needs --streaming-tls")
      .env("HULL_STREAMING_ADDRESS")
      .default(DEFAULT_STREAMING_ADDRESS),
  )
  .addOption(
    new Option("--streaming-idle-timeout <duration>", "close streaming connections idle this long (the kubelet's streamIdleTimeout)")
      .env("HULL_STREAMING_IDLE_TIMEOUT")
      .default("4h"),
  )
  .addOption(
    new Option("--streaming-tls", "serve the streaming server over mutual TLS with --tls-cert, --tls-key and --tls-client-ca").env("HULL_STREAMING_TLS"),
  )
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse();
  const flags = program.opts<Flags>();
  // Checked before anything else: a TCP listener without mutual TLS never starts.
  const tcp = tcpListenerFrom(flags);
  const streaming = streamingConfigFrom(flags);
  const log = pino({ name: "hulld", level: flags.logLevel }, pino.destination(2));
  const tracing = await setupTracing(log);
  const socket = resolve(flags.socket);
  const daemon = await startDaemon({
    socket,
    root: resolve(flags.root),
    runRoot: resolve(flags.runRoot),
    runtime: flags.runtime,
    conmon: flags.conmon,
    httpSocket: flags.httpSocket ? resolve(flags.httpSocket) : undefined,
    socketGroup: flags.socketGroup,
    tcp,
    streaming,
    registriesConf: flags.registriesConf ? resolve(flags.registriesConf) : undefined,
    cniConfigDir: resolve(flags.cniConfigDir),
    cniPluginDirs: flags.cniPluginDir
      .split(",")
      .filter((d) => d !== "")
      .map((d) => resolve(d)),
    pauseImage: flags.pauseImage,
    limits: { maxReceiveMessageBytes: flags.maxMessageBytes, maxSendMessageBytes: flags.maxSendMessageBytes, maxConcurrentStreams: flags.maxConcurrentStreams },
    log,
  });
  const tcpNote = daemon.tcpAddress ? ` and tcp ${daemon.tcpAddress} (TLS, client certificate required)` : "";
  process.stdout.write(`hulld listening on ${socket}${tcpNote}; streaming on ${daemon.streamingAddress}\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down; containers keep running");
    void daemon
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`hulld: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
