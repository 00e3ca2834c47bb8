// One CLI invocation's connection to hulld and its exit status so far.
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { ContainerServiceClient } from "../gen/hull/v1/container.js";
import { ConnectError, connectHulld, describeError, type CallFailure } from "./client.js";
import { UsageError } from "./parse.js";

export const EXIT_HULL_ERROR = 125;

/** podman-rm's documented statuses: 1 no such container, 2 running/paused, 125 anything else. */
export function rmExitCode(f: CallFailure): number {
  if (f.reason === "CONTAINER_NOT_FOUND" || (f.reason === "" && f.code === GrpcStatus.NOT_FOUND)) return 1;
  if (f.reason === "CONTAINER_STATE_INVALID") return 2;
  return EXIT_HULL_ERROR;
}

/** Shared state of one invocation: the lazily opened client and the exit status so far. */
export class Session {
  exitCode = 0;
  private client?: Promise<ContainerServiceClient>;
  private opened?: ContainerServiceClient;

  constructor(private readonly socket: () => string) {}

  connect(): Promise<ContainerServiceClient> {
    this.client ??= connectHulld(this.socket()).then((c) => (this.opened = c));
    return this.client;
  }

  /** Prints an error podman's way and remembers the worst exit status. */
  report(err: unknown, exitCodeFor: (f: CallFailure) => number = () => EXIT_HULL_ERROR): void {
    if (err instanceof ConnectError || err instanceof UsageError) {
      process.stderr.write(`Error: ${err.message}\n`);
      this.exitCode = Math.max(this.exitCode, EXIT_HULL_ERROR);
      return;
    }
    const f = describeError(err);
    // UNAVAILABLE without details means the daemon went away mid-call, not a refusal.
    const message = f.code === GrpcStatus.UNAVAILABLE && f.reason === "" ? new ConnectError(this.socket(), f.message).message : f.message;
    process.stderr.write(`Error: ${message}\n`);
    this.exitCode = Math.max(this.exitCode, exitCodeFor(f));
  }

  /** Runs `op` for each id in turn, printing its output; one failure does not stop the rest. */
  async each(
    ids: string[],
    op: (c: ContainerServiceClient, id: string) => Promise<string | undefined>,
    exitCodeFor?: (f: CallFailure) => number,
  ): Promise<void> {
    const client = await this.connect();
    for (const id of ids) {
      try {
        const out = await op(client, id);
        if (out !== undefined) process.stdout.write(`${out}\n`);
      } catch (err) {
        this.report(err, exitCodeFor);
      }
    }
  }

  close(): void {
    this.opened?.close();
  }
}
