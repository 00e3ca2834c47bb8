// `hull exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] ID [--] CMD...`: runs a
// command in a running container over ExecContainer and exits with its
// status, as podman exec does (125 when hull itself failed). With -t and a
// terminal on stdin, the terminal goes raw for the session (restored on every
// way out) and SIGWINCH sends the new size.
import type { Command } from "commander";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { ExecContainerRequest, OutputStream, type ContainerServiceClient, type DeepPartial, type ExecContainerResponse } from "../gen/hull/v1/container.js";
import { collect, parseEnv, UsageError } from "./parse.js";
import { EXIT_HULL_ERROR, type Session } from "./session.js";

interface ExecOptions {
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  workdir?: string;
  user?: string;
  detachKeys?: string;
}

type ExecStream = ClientDuplexStream<ExecContainerRequest, ExecContainerResponse>;

function terminalSize(): { height: number; width: number } | undefined {
  const { rows, columns } = process.stdout;
  return process.stdout.isTTY && rows > 0 && columns > 0 ? { height: rows, width: columns } : undefined;
}

/** Runs one exec; resolves with its exit code, or undefined when the client detached. */
async function runExec(client: ContainerServiceClient, id: string, command: string[], opts: ExecOptions): Promise<number | undefined> {
  const tty = opts.tty === true;
  const interactive = opts.interactive === true;
  const stream: ExecStream = client.execContainer();
  const send = (req: DeepPartial<ExecContainerRequest>): void => {
    if (!stream.writableEnded) stream.write(ExecContainerRequest.fromPartial(req));
  };
  const raw = tty && interactive && process.stdin.isTTY;
  const cleanups: (() => void)[] = [];

  try {
    send({
      message: {
        $case: "open",
        value: {
          id,
          command,
          env: parseEnv(opts.env),
          workingDir: opts.workdir ?? "",
          user: opts.user ?? "",
          tty,
          stdin: interactive,
          size: tty ? terminalSize() : undefined,
          detachKeys: opts.detachKeys ?? "",
        },
      },
    });
    if (raw) {
      process.stdin.setRawMode(true);
      cleanups.push(() => process.stdin.setRawMode(false));
    }
    if (tty && process.stdout.isTTY) {
      const onResize = (): void => {
        const size = terminalSize();
        if (size) send({ message: { $case: "resize", value: size } });
      };
      process.on("SIGWINCH", onResize);
      cleanups.push(() => process.off("SIGWINCH", onResize));
    }
    if (interactive) {
      const onData = (chunk: Buffer): void => send({ message: { $case: "stdin", value: chunk } });
      const onEnd = (): void => send({ message: { $case: "closeStdin", value: true } });
      process.stdin.on("data", onData);
      process.stdin.once("end", onEnd);
      cleanups.push(() => {
        process.stdin.off("data", onData);
        process.stdin.off("end", onEnd);
        // Let the process exit: a stdin still flowing would hold it open.
        process.stdin.pause();
      });
    }

    return await new Promise<number | undefined>((resolve, reject) => {
      let exitCode: number | undefined;
      stream.on("data", (res: ExecContainerResponse) => {
        const m = res.message;
        if (m?.$case === "output") {
          (m.value.stream === OutputStream.OUTPUT_STREAM_STDERR ? process.stderr : process.stdout).write(m.value.data);
        } else if (m?.$case === "exitCode") {
          exitCode = m.value;
        }
      });
      stream.on("error", reject);
      stream.on("end", () => resolve(exitCode));
    });
  } finally {
    for (const c of cleanups.reverse()) c();
    if (!stream.writableEnded) stream.end();
  }
}

export function registerExecCommands(program: Command, session: Session): void {
  program
    .command("exec")
    .description("run a command in a running container; exits with the command's status")
    .option("-i, --interactive", "send stdin to the command")
    .option("-t, --tty", "allocate a terminal (raw mode and resizes when stdin is one)")
    .option("-e, --env <KEY=VALUE>", "set an environment variable (repeatable; bare KEY takes this shell's $KEY)", collect, [])
    .option("-w, --workdir <dir>", "working directory inside the container")
    .option("-u, --user <user[:group]>", "user to run as")
    .option("--detach-keys <keys>", "keys that detach from a tty session (default ctrl-p,ctrl-q)")
    .argument("<id>", "container id, id prefix or name")
    .argument("<command...>", "the command and its arguments (after --)")
    // Options after ID belong to the command (hull exec c ls -l).
    .passThroughOptions()
    .action(async (id: string, operands: string[], opts: ExecOptions) => {
      // Commander keeps a "--" that follows an operand.
      const command = operands[0] === "--" ? operands.slice(1) : operands;
      try {
        if (command.length === 0) throw new UsageError("exec needs a command after the container id");
        const client = await session.connect();
        const code = await runExec(client, id, command, opts);
        if (code === undefined) return; // detached: the command runs on
        if (code < 0) {
          process.stderr.write(`Error: the command in ${id} ended without an exit status\n`);
          session.exitCode = EXIT_HULL_ERROR;
          return;
        }
        session.exitCode = code;
      } catch (err) {
        session.report(err);
      }
    });
}
