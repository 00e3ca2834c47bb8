// `hull system df`: the space hull takes on disk. There is no RPC for it, so
// the sizes are measured here, by walking hulld's state root: this works only
// on hulld's host, by a user who can read that root. The image count comes
// from hulld (image records live in its store, which it holds locked).
import * as grpc from "@grpc/grpc-js";
import { Option, type Command } from "commander";
import { ImageServiceClient, type ListImagesResponse } from "../gen/hull/v1/image.js";
import { diskUsage, type Usage } from "./disk-usage.js";
import { unary } from "./client.js";
import { UsageError } from "./parse.js";
import type { Session } from "./session.js";

export const DEFAULT_ROOT = "/var/lib/hull";

/** Sizes as podman prints them: decimal units, three significant digits. */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v}B` : `${Number(v.toPrecision(3))}${units[i]}`;
}

export function dfTable(imageCount: number, u: Usage): string {
  const rows = [
    ["TYPE", "TOTAL", "SIZE"],
    ["Images", String(imageCount), humanSize(u.images.blobBytes + u.images.layerBytes)],
    ["Containers", String(u.containers.count), humanSize(u.containers.bytes)],
    ["Logs", String(u.logs.count), humanSize(u.logs.bytes)],
  ];
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] + 2))).join("")).join("\n");
}

async function imageCount(session: Session): Promise<number> {
  const c = await session.connect();
  // Same connection as the container client: no second dial, same socket.
  const images = new ImageServiceClient("unix:hull", grpc.credentials.createInsecure(), { channelOverride: c.getChannel() });
  const res = await unary<{ reference: string }, ListImagesResponse>(images.listImages.bind(images), { reference: "" });
  return res.images.length;
}

export function registerSystemCommands(program: Command, session: Session): void {
  const system = program.command("system").description("manage hull itself");
  system
    .command("df")
    .description(
      "show the disk space used by images, containers and their logs. The sizes are measured by walking hulld's " +
        "state root (--root) from this process: run it on hulld's host, as a user who can read that root " +
        "(usually root); only the image count is asked from hulld",
    )
    .addOption(new Option("--root <dir>", "hulld's state root (its --root)").env("HULL_ROOT").default(DEFAULT_ROOT))
    .option("--format <format>", "json for the raw numbers in bytes")
    .action(async (opts: { root: string; format?: string }) => {
      try {
        if (opts.format !== undefined && opts.format !== "json") throw new UsageError(`unknown --format "${opts.format}": only json`);
        const [count, usage] = await Promise.all([imageCount(session), diskUsage(opts.root)]);
        const out =
          opts.format === "json"
            ? JSON.stringify({ images: { count, ...usage.images }, containers: usage.containers, logs: usage.logs }, null, 2)
            : dfTable(count, usage);
        process.stdout.write(`${out}\n`);
      } catch (err) {
        session.report(err);
      }
    });
}
