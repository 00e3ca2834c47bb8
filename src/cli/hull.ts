#!/usr/bin/env node
// `hull`: the command line for people, a thin client of hulld's gRPC API with
// podman's verbs, output and exit codes (125 = hull itself failed).
import { Command, CommanderError, Option } from "commander";
import type { Container } from "../gen/hull/v1/container.js";
import { DEFAULT_SOCKET, unary } from "./client.js";
import { buildConfig, defineCreate, type CreateOptions } from "./create.js";
import { containersJson, psTable } from "./format.js";
import { UsageError, collect, parseFilters, parseInteger, parseState } from "./parse.js";
import { ContainerState } from "../gen/hull/v1/container.js";
import { EXIT_HULL_ERROR, Session, rmExitCode } from "./session.js";
import { registerStreamCommands } from "./stream-commands.js";
import { startAttached } from "./attach-cmd.js";
import { HULL_VERSION } from "../domain/version.js";

function optionalSeconds(flag: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseInteger(flag, value);
}

function buildProgram(session: Session, argv: string[]): Command {
  const program = new Command("hull");
  program
    .description("hull: manage containers through hulld")
    .version(HULL_VERSION)
    .addOption(new Option("--socket <path>", "hulld's unix socket").env("HULL_SOCKET").default(DEFAULT_SOCKET))
    // create takes the container's own flags after its operands; that needs positional parsing.
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "Error: ")) });

  defineCreate(program.command("create")).action(async (operands: string[], opts: CreateOptions) => {
    const rawTail = argv.slice(argv.indexOf("create") + 1);
    const config = buildConfig(opts, operands, rawTail);
    await session.each([""], async (c) => (await unary(c.createContainer.bind(c), { config })).container?.id ?? "");
  });

  program
    .command("init")
    .description("create the runtime container without starting it")
    .argument("<id...>")
    .action(async (ids: string[]) => {
      await session.each(ids, async (c, id) => (await unary(c.initContainer.bind(c), { id, recursive: false }), id));
    });

  program
    .command("start")
    .description("start containers")
    .option("--recursive", "start dependencies first")
    .option("-a, --attach", "attach to the container's output and exit with its status (one container)")
    .option("-i, --interactive", "with -a: send this terminal's input too")
    .option("--detach-keys <keys>", "with -a: keys that detach (default ctrl-p,ctrl-q)")
    .argument("<id...>")
    .action(async (ids: string[], opts: { recursive?: boolean; attach?: boolean; interactive?: boolean; detachKeys?: string }) => {
      if (opts.attach || opts.interactive) return startAttached(session, ids, opts);
      await session.each(ids, async (c, id) => (await unary(c.startContainer.bind(c), { id, recursive: opts.recursive === true }), id));
    });

  program
    .command("stop")
    .description("stop containers (stop signal, then SIGKILL after the timeout)")
    .option("-t, --time <seconds>", "seconds before SIGKILL (default: the container's stop timeout)")
    .argument("<id...>")
    .action(async (ids: string[], opts: { time?: string }) => {
      const timeoutSeconds = optionalSeconds("--time", opts.time);
      await session.each(ids, async (c, id) => (await unary(c.stopContainer.bind(c), { id, timeoutSeconds }), id));
    });

  program
    .command("kill")
    .description("send a signal to containers")
    .option("-s, --signal <signal>", "signal name or number", "SIGKILL")
    .argument("<id...>")
    .action(async (ids: string[], opts: { signal: string }) => {
      await session.each(ids, async (c, id) => (await unary(c.killContainer.bind(c), { id, signal: opts.signal }), id));
    });

  program
    .command("restart")
    .description("stop then start a container")
    .option("-t, --time <seconds>", "seconds before SIGKILL")
    .argument("<id>")
    .action(async (id: string, opts: { time?: string }) => {
      const timeoutSeconds = optionalSeconds("--time", opts.time);
      await session.each([id], async (c) => (await unary(c.restartContainer.bind(c), { id, timeoutSeconds }), id));
    });

  for (const [name, description] of [
    ["pause", "freeze a container's processes"],
    ["unpause", "thaw a paused container"],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument("<id>")
      .action(async (id: string) => {
        await session.each([id], async (c) => {
          await (name === "pause" ? unary(c.pauseContainer.bind(c), { id }) : unary(c.unpauseContainer.bind(c), { id }));
          return id;
        });
      });
  }

  program
    .command("ps")
    .description("list containers (running, paused and stopping unless -a)")
    .option("-a, --all", "every container, whatever its state")
    .option("-f, --filter <KEY=VALUE>", "state=S, label=K[=V], name=N, id=PREFIX (repeatable)", collect, [])
    .option("--format <format>", "table or json", "table")
    .option("--no-trunc", "full ids and commands")
    .option("-q, --quiet", "ids only")
    .action(async (opts: { all?: boolean; filter: string[]; format: string; trunc: boolean; quiet?: boolean }) => {
      if (opts.format !== "table" && opts.format !== "json") throw new UsageError(`--format: "${opts.format}" is not table or json`);
      const f = parseFilters(opts.filter);
      const live = [ContainerState.CONTAINER_STATE_RUNNING, ContainerState.CONTAINER_STATE_PAUSED, ContainerState.CONTAINER_STATE_STOPPING];
      // A state filter says which states it wants; otherwise -a decides, as in podman.
      const states = f.states.length > 0 ? f.states : opts.all ? [] : live;
      await session.each([""], async (c) => {
        const res = await unary(c.listContainers.bind(c), { states, labels: f.labels, name: f.name, idPrefix: f.idPrefix });
        const list = [...res.containers].sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
        if (opts.format === "json") return containersJson(list);
        if (opts.quiet) return list.length ? list.map((x) => (opts.trunc ? x.id.slice(0, 12) : x.id)).join("\n") : undefined;
        return psTable(list, { noTrunc: !opts.trunc });
      });
    });

  program
    .command("inspect")
    .description("print containers as a JSON array")
    .option("-f, --format <format>", "json (the only format)", "json")
    .argument("<id...>")
    .action(async (ids: string[], opts: { format: string }) => {
      if (opts.format !== "json") throw new UsageError(`--format: "${opts.format}" is not supported (only json)`);
      const found: Container[] = [];
      await session.each(ids, async (c, id) => {
        const res = await unary(c.inspectContainer.bind(c), { id });
        if (res.container) found.push(res.container);
        return undefined;
      });
      // Like podman: the array of what was found, even when some ids failed.
      process.stdout.write(`${containersJson(found)}\n`);
    });

  program
    .command("wait")
    .description("block until containers exit (or reach --condition); print their exit codes")
    .option("--condition <state>", "wait for this state instead of the exit, e.g. running")
    .argument("<id...>")
    .action(async (ids: string[], opts: { condition?: string }) => {
      const condition = opts.condition === undefined ? undefined : parseState("--condition", opts.condition);
      await session.each(ids, async (c, id) => String((await unary(c.waitContainer.bind(c), { id, condition })).exitCode));
    });

  program
    .command("rm")
    .description("remove containers")
    .option("-f, --force", "stop running containers first")
    .option("-t, --time <seconds>", "stop timeout when forcing")
    .argument("<id...>")
    .action(async (ids: string[], opts: { force?: boolean; time?: string }) => {
      const timeoutSeconds = optionalSeconds("--time", opts.time);
      await session.each(ids, async (c, id) => (await unary(c.removeContainer.bind(c), { id, force: opts.force === true, timeoutSeconds }), id), rmExitCode);
    });

  program
    .command("cleanup")
    .description("release an exited container's runtime resources (applies its restart policy)")
    .argument("<id>")
    .action(async (id: string) => {
      await session.each([id], async (c) => {
        const res = await unary(c.cleanupContainer.bind(c), { id, onlyStopped: false });
        return res.restarted ? `${id} (restarted by its restart policy)` : id;
      });
    });

  program
    .command("sync")
    .description("re-read the runtime's view of a container and save it")
    .argument("<id>")
    .action(async (id: string) => {
      await session.each([id], async (c) => (await unary(c.syncContainer.bind(c), { id }), id));
    });

  // Stream commands (attach, logs, exec, events) register themselves here.
  registerStreamCommands(program, session);

  return program;
}

async function main(argv: string[]): Promise<number> {
  // The session reads --socket only once the command runs, after parsing.
  const parsed: { program?: Command } = {};
  const session = new Session(() => parsed.program?.opts<{ socket: string }>().socket ?? DEFAULT_SOCKET);
  const program = buildProgram(session, argv);
  parsed.program = program;
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // Help and --version "fail" with exit code 0; every other parse error is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_HULL_ERROR;
    session.report(err);
  } finally {
    session.close();
  }
  return session.exitCode;
}

process.exitCode = await main(process.argv);
