// `hull attach`, `hull start -a` and `hull run`: a terminal on
// AttachContainer, exiting with the container's status as podman does (0
// after a detach, 125 when hull itself failed). For a tty container with a
// terminal on stdin, the terminal goes raw for the session (restored on every
// way out) and SIGWINCH sends the new size.
import type { Command } from "commander";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { AttachContainerRequest, OutputStream, type AttachContainerResponse, type ContainerServiceClient, type DeepPartial } from "../gen/hull/v1/container.js";
import { unary } from "./client.js";
import { buildConfig, defineCreate, type CreateOptions } from "./create.js";
import { UsageError } from "./parse.js";
import type { Session } from "./session.js";

type AttachStream = ClientDuplexStream<AttachContainerRequest, AttachContainerResponse>;

interface AttachRun {
  id: string;
  /** Send this process's stdin to the container. */
  stdin: boolean;
  start: boolean;
  /** With start: start the dependencies first. */
  recursive?: boolean;
  detachKeys?: string;
}

/** How an attach ended: the container's exit code, or a detach. */
type Ending = { exitCode: number } | { detached: true };

function terminalSize(): { height: number; width: number } | undefined {
  const { rows, columns } = process.stdout;
  return process.stdout.isTTY && rows > 0 && columns > 0 ? { height: rows, width: columns } : undefined;
}

/** Attaches (and with start, starts) one container; resolves when it exits or the client detaches. */
export async function runAttach(client: ContainerServiceClient, run: AttachRun): Promise<Ending> {
  const call: AttachStream = client.attachContainer();
  const send = (req: DeepPartial<AttachContainerRequest>): boolean => (call.writableEnded ? true : call.write(AttachContainerRequest.fromPartial(req)));
  const cleanups: Array<() => void> = [];
  let ending: Ending | undefined;

  // Output waits for the terminal: a slow one pauses the call, and hulld's bounded queue decides.
  const writeOut = (out: NodeJS.WriteStream, data: Buffer): void => {
    if (!out.write(data)) {
      call.pause();
      out.once("drain", () => call.resume());
    }
  };

  const forwardStdin = (tty: boolean): void => {
    const input = process.stdin;
    if (tty && input.isTTY) {
      input.setRawMode(true);
      // Killed from outside: give the terminal back first, then die of the same signal.
      const onSignal = (signal: NodeJS.Signals): void => {
        input.setRawMode(false);
        process.off("SIGTERM", onSignal).off("SIGHUP", onSignal);
        process.kill(process.pid, signal);
      };
      process.on("SIGTERM", onSignal).on("SIGHUP", onSignal);
      cleanups.push(() => {
        process.off("SIGTERM", onSignal).off("SIGHUP", onSignal);
        input.setRawMode(false);
      });
    }
    const onData = (chunk: Buffer): void => {
      if (!send({ message: { $case: "stdin", value: chunk } })) {
        input.pause();
        call.once("drain", () => input.resume());
      }
    };
    const onEnd = (): void => void send({ message: { $case: "closeStdin", value: true } });
    input.on("data", onData);
    input.on("end", onEnd);
    cleanups.push(() => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.pause();
    });
    input.resume();
  };

  const followSize = (): void => {
    const size = terminalSize();
    if (!size) return;
    send({ message: { $case: "resize", value: size } });
    const onResize = (): void => {
      const next = terminalSize();
      if (next) send({ message: { $case: "resize", value: next } });
    };
    process.stdout.on("resize", onResize);
    cleanups.push(() => process.stdout.off("resize", onResize));
  };

  try {
    await new Promise<void>((resolve, reject) => {
      call.on("data", (res: AttachContainerResponse) => {
        const m = res.message;
        switch (m?.$case) {
          case "attached": {
            const tty = m.value.config?.tty === true;
            if (run.stdin) forwardStdin(tty);
            if (tty) followSize();
            break;
          }
          case "output":
            writeOut(m.value.stream === OutputStream.OUTPUT_STREAM_STDERR ? process.stderr : process.stdout, m.value.data);
            break;
          case "exitCode":
            ending = { exitCode: m.value };
            break;
          case "detached":
            ending = { detached: true };
            break;
          default:
            break;
        }
      });
      call.on("error", reject);
      call.on("end", () => resolve());
      send({
        message: {
          $case: "open",
          value: {
            id: run.id,
            stdin: run.stdin,
            stdout: true,
            stderr: true,
            start: run.start,
            recursive: run.recursive === true,
            detachKeys: run.detachKeys ?? "",
          },
        },
      });
    });
  } finally {
    for (const undo of cleanups.reverse()) undo();
    call.end();
  }
  if (!ending) throw new Error(`attach to ${run.id} ended without the container's exit code`);
  return ending;
}

/** The process's exit status for an attach's ending (podman's: the container's, 0 after a detach). */
function statusOf(ending: Ending): number {
  return "exitCode" in ending ? ending.exitCode : 0;
}

/** `hull start -a [-i] ID`: start and attach one container. */
export async function startAttached(
  session: Session,
  ids: string[],
  opts: { attach?: boolean; interactive?: boolean; recursive?: boolean; detachKeys?: string },
): Promise<void> {
  if (!opts.attach) throw new UsageError("start: -i needs -a");
  if (ids.length !== 1) throw new UsageError("start -a: give exactly one container");
  const id = ids[0] as string;
  const client = await session.connect();
  try {
    const ending = await runAttach(client, { id, stdin: opts.interactive === true, start: true, recursive: opts.recursive, detachKeys: opts.detachKeys });
    session.exitCode = statusOf(ending);
  } catch (err) {
    session.report(err);
  }
}

interface RunOptions extends CreateOptions {
  rm?: boolean;
  detach?: boolean;
  detachKeys?: string;
}

async function run(session: Session, operands: string[], opts: RunOptions, argv: string[]): Promise<void> {
  if (opts.rm && opts.detach) throw new UsageError("run: --rm cannot be combined with -d (hulld does not remove containers on its own)");
  if (opts.rm && opts.restart !== undefined && opts.restart !== "no") throw new UsageError("run: --rm cannot be combined with a restart policy");
  const config = buildConfig(opts, operands, argv.slice(argv.indexOf("run") + 1));
  const client = await session.connect();
  let id: string | undefined;
  try {
    id = (await unary(client.createContainer.bind(client), { config })).container?.id;
    if (!id) throw new Error("hulld returned no container");
    if (opts.detach) {
      await unary(client.startContainer.bind(client), { id, recursive: false });
      process.stdout.write(`${id}\n`);
      return;
    }
    const ending = await runAttach(client, { id, stdin: opts.interactive === true, start: true, detachKeys: opts.detachKeys });
    session.exitCode = statusOf(ending);
    // A detached container keeps running: --rm leaves it, as podman does.
    if (opts.rm && "exitCode" in ending) await unary(client.removeContainer.bind(client), { id, force: false, timeoutSeconds: undefined });
  } catch (err) {
    session.report(err);
    if (opts.rm && id) {
      await unary(client.removeContainer.bind(client), { id, force: true, timeoutSeconds: 0 }).catch((e: unknown) => session.report(e));
    }
  }
}

export function registerAttachCommands(program: Command, session: Session): void {
  program
    .command("attach")
    .description("attach this terminal to a running container's input and output; exits with its status")
    .option("--no-stdin", "do not send this terminal's input")
    .option("--detach-keys <keys>", 'keys that detach, e.g. "ctrl-a,x" (default ctrl-p,ctrl-q; "none" to disable)')
    .argument("<id>")
    .action(async (id: string, opts: { stdin: boolean; detachKeys?: string }) => {
      const client = await session.connect();
      try {
        session.exitCode = statusOf(await runAttach(client, { id, stdin: opts.stdin, start: false, detachKeys: opts.detachKeys }));
      } catch (err) {
        session.report(err);
      }
    });

  defineCreate(program.command("run"))
    .description("create a container, start it attached and exit with its status; the command follows `--`")
    .option("--rm", "remove the container once it exits")
    .option("-d, --detach", "start it in the background and print its id")
    .option("--detach-keys <keys>", 'keys that detach, e.g. "ctrl-a,x" (default ctrl-p,ctrl-q)')
    .action(async (operands: string[], opts: RunOptions) => {
      await run(session, operands, opts, process.argv);
    });
}
