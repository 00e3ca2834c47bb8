// `hull mount`, `hull unmount` (`umount`) and `hull export`: podman's verbs
// for a container's root filesystem on the host.
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { once } from "node:events";
import type { Command } from "commander";
import type { ExportContainerResponse } from "../gen/hull/v1/container.js";
import { unary } from "./client.js";
import { UsageError } from "./parse.js";
import type { Session } from "./session.js";

/** Writes the export stream to out, pausing the stream while out is full. */
async function writeExport(chunks: AsyncIterable<ExportContainerResponse>, out: NodeJS.WritableStream): Promise<void> {
  for await (const res of chunks) {
    if (!out.write(res.chunk)) await once(out, "drain");
  }
}

async function exportTo(session: Session, id: string, file: string | undefined): Promise<void> {
  if (file === undefined && process.stdout.isTTY) {
    throw new UsageError("refusing to export to a terminal: use -o FILE or redirect stdout");
  }
  const client = await session.connect();
  if (file === undefined) {
    await writeExport(client.exportContainer({ id }), process.stdout);
    return;
  }
  const out = createWriteStream(file, { mode: 0o600 });
  // The call starts only once the file is open: from its creation on, the
  // iteration below must be listening, or an early error would be uncaught.
  let call: ReturnType<typeof client.exportContainer> | undefined;
  try {
    await once(out, "open");
    call = client.exportContainer({ id });
    await writeExport(call, out);
    out.end();
    await once(out, "finish");
  } catch (err) {
    call?.cancel();
    out.destroy();
    // A cut-off archive must not pass for a whole one.
    await rm(file, { force: true });
    throw err;
  }
}

export function registerStorageCommands(program: Command, session: Session): void {
  program
    .command("mount")
    .description("mount containers' root filesystems and print where they are on the host")
    .argument("<id...>")
    .action(async (ids: string[]) => {
      await session.each(ids, async (c, id) => (await unary(c.mountContainer.bind(c), { id })).path);
    });

  program
    .command("unmount")
    .alias("umount")
    .description("unmount containers' root filesystems (one mount each, or all with --force)")
    .option("-f, --force", "unmount however many times the container is mounted")
    .argument("<id...>")
    .action(async (ids: string[], opts: { force?: boolean }) => {
      await session.each(ids, async (c, id) => (await unary(c.unmountContainer.bind(c), { id, force: opts.force === true }), id));
    });

  program
    .command("export")
    .description("write a tar of a container's root filesystem to FILE (or to stdout when it is not a terminal)")
    .option("-o, --output <file>", "the file to write")
    .argument("<id>")
    .action(async (id: string, opts: { output?: string }) => {
      try {
        await exportTo(session, id, opts.output);
      } catch (err) {
        session.report(err);
      }
    });
}
