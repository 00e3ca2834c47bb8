#!/usr/bin/env node
// hulld: the container daemon. Flags override env vars override defaults.
import { Command, Option } from "commander";
import { pino } from "pino";
import { resolve } from "node:path";
import { startDaemon } from "./daemon.js";
import { setupTracing } from "./tracing.js";

interface Flags {
  socket: string;
  root: string;
  runRoot: string;
  runtime: string;
  conmon?: string;
  httpSocket?: string;
  logLevel: string;
}

const program = new Command("hulld")
  .description("hull container daemon: hull.v1.ContainerService over gRPC on a unix socket")
  .addOption(new Option("--socket <path>", "unix socket to serve on").env("HULL_SOCKET").default("/run/hull/hull.sock"))
  .addOption(new Option("--root <dir>", "state root: store, container dirs").env("HULL_ROOT").default("/var/lib/hull"))
  .addOption(new Option("--run-root <dir>", "run root: bundles, exit files, sockets").env("HULL_RUN_ROOT").default("/run/hull"))
  .addOption(new Option("--runtime <name|path>", "OCI runtime: runc, crun or a path").env("HULL_RUNTIME").default("runc"))
  .addOption(new Option("--conmon <path>", "conmon binary").env("HULL_CONMON"))
  .addOption(
    new Option("--log-level <level>", "log level").env("HULL_LOG_LEVEL").default("info").choices(["trace", "debug", "info", "warn", "error", "fatal"]),
  )
  .addOption(new Option("--http-socket <path>", "also serve Docker-style HTTP attach on this unix socket").env("HULL_HTTP_SOCKET"))
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse();
  const flags = program.opts<Flags>();
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
    log,
  });
  process.stdout.write(`hulld listening on ${socket}\n`);
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
