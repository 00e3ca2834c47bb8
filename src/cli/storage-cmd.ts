// `hull mount`, `hull unmount` (`umount`), `hull export`, `hull checkpoint`
// and `hull restore`: podman's verbs for a container's root filesystem and
// its saved state on the host.
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { once } from "node:events";
import type { Command } from "commander";
import type { ContainerServiceClient, ExportContainerResponse } from "../gen/hull/v1/container.js";
import { unary } from "./client.js";
import { UsageError } from "./parse.js";
import type { Session } from "./session.js";

/** Writes the export stream to out, pausing the stream while out is full. */
async function writeExport(chunks: AsyncIterable<ExportContainerResponse>, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  for await (const res of chunks) {
    if (!out.write(res.chunk)) await once(out, "drain", signal ? { signal } : {});
  }
}

/**
 * Streams the export to stdout. A reader that stops early (`| head -c 10`)
 * closes the pipe: like `hull logs`, that ends the export quietly with status
 * 0, since the reader got what it asked for; other output errors are reported.
 */
async function exportToStdout(session: Session, call: ReturnType<ContainerServiceClient["exportContainer"]>): Promise<void> {
  const outputGone = new AbortController();
  let outputError: NodeJS.ErrnoException | undefined;
  const onOutputError = (err: NodeJS.ErrnoException): void => {
    if (outputGone.signal.aborted) return;
    outputError = err;
    outputGone.abort();
    call.cancel();
  };
  process.stdout.on("error", onOutputError);
  try {
    await writeExport(call, process.stdout, outputGone.signal);
  } catch (err) {
    // Once stdout is gone, the stream's error is only the cancellation that followed.
    if (!outputGone.signal.aborted) throw err;
  } finally {
    process.stdout.off("error", onOutputError);
    // The reader may close the pipe after the last chunk was handed to stdout;
    // that late EPIPE would otherwise be an uncaught error and status 1.
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") return;
      session.report(err);
      process.exitCode = session.exitCode;
    });
  }
  if (outputError !== undefined && outputError.code !== "EPIPE") session.report(outputError);
}

async function exportTo(session: Session, id: string, file: string | undefined): Promise<void> {
  if (file === undefined && process.stdout.isTTY) {
    throw new UsageError("refusing to export to a terminal: use -o FILE or redirect stdout");
  }
  const client = await session.connect();
  if (file === undefined) {
    await exportToStdout(session, client.exportContainer({ id }));
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

  program
    .command("checkpoint")
    .description("checkpoint a running container with CRIU (needs CRIU usable by the runtime on hulld's host)")
    .option("--keep", "keep CRIU's logs and image files")
    .option("-R, --leave-running", "leave the container running after the checkpoint")
    .option("--tcp-established", "checkpoint established TCP connections")
    .option("-e, --export <file>", "write the checkpoint to an archive FILE (a path on hulld's host)")
    .option("--ignore-rootfs", "with --export, leave the root filesystem changes out of the archive")
    .argument("<id>")
    .action(async (id: string, opts: { keep?: boolean; leaveRunning?: boolean; tcpEstablished?: boolean; export?: string; ignoreRootfs?: boolean }) => {
      const request = {
        id,
        keep: opts.keep === true,
        keepRunning: opts.leaveRunning === true,
        tcpEstablished: opts.tcpEstablished === true,
        // hulld wants an absolute path; relative ones mean the CLI's working directory, as in podman.
        targetFile: opts.export === undefined ? "" : resolve(opts.export),
        ignoreRootfs: opts.ignoreRootfs === true,
      };
      await session.each([id], async (c) => (await unary(c.checkpointContainer.bind(c), request), id));
    });

  program
    .command("restore")
    .description("restore a checkpointed container, or a new one from an archive with --import (needs CRIU on hulld's host)")
    .option("--keep", "keep CRIU's logs and image files")
    .option("--tcp-established", "restore established TCP connections")
    .option("-i, --import <file>", "restore from an archive FILE written by `checkpoint --export` (a path on hulld's host)")
    .option("-n, --name <name>", "with --import, the new container's name")
    .option("--ignore-rootfs", "with --import, do not restore root filesystem changes from the archive")
    .argument("[id]")
    .action(async (id: string | undefined, opts: { keep?: boolean; tcpEstablished?: boolean; import?: string; name?: string; ignoreRootfs?: boolean }) => {
      const request = {
        id: id ?? "",
        keep: opts.keep === true,
        tcpEstablished: opts.tcpEstablished === true,
        targetFile: opts.import === undefined ? "" : resolve(opts.import),
        name: opts.name ?? "",
        ignoreRootfs: opts.ignoreRootfs === true,
        // hull containers have no static IP or MAC to drop (see checkpoint-handler.ts).
        ignoreStaticIp: false,
        ignoreStaticMac: false,
      };
      // The restored container's id: a new one when restored from an archive.
      await session.each([id ?? ""], async (c) => must((await unary(c.restoreContainer.bind(c), request)).container).id);
    });
}

function must<T>(value: T | undefined, what = "the daemon's reply lacks the container"): T {
  if (value === undefined) throw new Error(what);
  return value;
}
