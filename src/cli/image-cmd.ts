// `hull image import|pull|ls|inspect|rm`: the ImageService from the command line,
// output shaped like podman's (`podman images`, `podman image inspect`).
import type { Readable } from "node:stream";
import type { Command } from "commander";
import * as grpc from "@grpc/grpc-js";
import { Image, ImageServiceClient, type ImportImageResponse, type PullImageResponse } from "../gen/hull/v1/image.js";
import { unary } from "./client.js";
import type { Session } from "./session.js";

const CHUNK = 1024 * 1024;

async function imageClient(session: Session): Promise<ImageServiceClient> {
  const c = await session.connect();
  // Same connection as the container client: no second dial, same socket.
  return new ImageServiceClient("unix:hull", grpc.credentials.createInsecure(), { channelOverride: c.getChannel() });
}

/** Streams src in chunks after a source message with no path. */
function importStream(client: ImageServiceClient, src: Readable, reference: string): Promise<ImportImageResponse> {
  return new Promise((resolve, reject) => {
    const call = client.importImage((err, res) => (err ? reject(err) : resolve(res)));
    call.write({ message: { $case: "source", value: { path: "", reference, format: "", sizeBytes: 0 } } });
    src.on("error", (err) => {
      call.cancel();
      reject(err);
    });
    void (async () => {
      for await (const data of src) {
        const buf = data as Buffer;
        for (let i = 0; i < buf.length; i += CHUNK) {
          if (!call.write({ message: { $case: "chunk", value: buf.subarray(i, i + CHUNK) } })) await new Promise((r) => call.once("drain", r));
        }
      }
      call.end();
    })().catch(reject);
  });
}

function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

function humanSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function imagesTable(images: Image[]): string {
  const rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]];
  for (const img of images) {
    const tags = img.tags.length > 0 ? img.tags : ["<none>:<none>"];
    for (const t of tags) {
      const colon = t.lastIndexOf(":");
      rows.push([t.slice(0, colon), t.slice(colon + 1), shortId(img.id), img.createdAt?.toISOString() ?? "", humanSize(img.sizeBytes)]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 2)))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}

export function registerImageCommands(program: Command, session: Session): void {
  const image = program.command("image").description("manage images");

  image
    .command("import")
    .description("import an OCI image layout (dir or tar) or a rootfs tarball; PATH - reads stdin")
    .argument("<path>", "host path, or - for stdin (streamed)")
    .option("--ref <reference>", "tag for the image, e.g. busybox:latest")
    .option("--format <format>", "oci-layout or rootfs-tar (default: detect)")
    .action(async (path: string, opts: { ref?: string; format?: string }) => {
      const client = await imageClient(session);
      try {
        const res =
          path === "-"
            ? await importStream(client, process.stdin, opts.ref ?? "")
            : await new Promise<ImportImageResponse>((resolve, reject) => {
                const call = client.importImage((err, r) => (err ? reject(err) : resolve(r)));
                // hulld reads the path itself: make it absolute from here.
                const abs = path.startsWith("/") ? path : `${process.cwd()}/${path}`;
                call.write({ message: { $case: "source", value: { path: abs, reference: opts.ref ?? "", format: opts.format ?? "", sizeBytes: 0 } } });
                call.end();
              });
        process.stdout.write(`${res.image?.id ?? ""}\n`);
      } catch (err) {
        session.report(err);
      }
    });

  image
    .command("pull")
    .description("pull an image from a registry (host[:port]/name[:tag|@digest])")
    .argument("<reference>", "e.g. localhost:5000/busybox:latest")
    .option("--insecure", "allow plain HTTP to the registry")
    .option("--creds <user:pass>", "registry credentials")
    .action(async (reference: string, opts: { insecure?: boolean; creds?: string }) => {
      const client = await imageClient(session);
      const colon = opts.creds?.indexOf(":") ?? -1;
      const username = opts.creds === undefined ? "" : colon < 0 ? opts.creds : opts.creds.slice(0, colon);
      const password = opts.creds === undefined || colon < 0 ? "" : opts.creds.slice(colon + 1);
      try {
        const id = await new Promise<string>((resolve, reject) => {
          let imageId = "";
          const call = client.pullImage({ reference, username, password, insecure: opts.insecure ?? false });
          call.on("data", (res: PullImageResponse) => {
            const m = res.message;
            if (m?.$case === "progress") {
              const p = m.value;
              process.stdout.write(
                `${p.digest.slice(7, 19)}: ${p.complete ? "complete" : "downloading"} ${humanSize(p.bytesDone)}/${humanSize(p.bytesTotal)}\n`,
              );
            } else if (m?.$case === "image") imageId = m.value.id;
          });
          call.on("error", reject);
          call.on("end", () => resolve(imageId));
        });
        process.stdout.write(`${id}\n`);
      } catch (err) {
        session.report(err);
      }
    });

  image
    .command("ls")
    .alias("list")
    .description("list images")
    .argument("[reference]", "only images whose tag contains this")
    .option("-q, --quiet", "ids only")
    .action(async (reference: string | undefined, opts: { quiet?: boolean }) => {
      const client = await imageClient(session);
      try {
        const res = await unary(client.listImages.bind(client), { reference: reference ?? "" });
        process.stdout.write(opts.quiet ? res.images.map((i) => `${shortId(i.id)}\n`).join("") : `${imagesTable(res.images)}\n`);
      } catch (err) {
        session.report(err);
      }
    });

  image
    .command("inspect")
    .description("show images as JSON")
    .argument("<reference...>", "id, id prefix or tag")
    .action(async (refs: string[]) => {
      const client = await imageClient(session);
      const out: unknown[] = [];
      for (const reference of refs) {
        try {
          const res = await unary(client.inspectImage.bind(client), { reference });
          if (res.image) out.push(Image.toJSON(res.image));
        } catch (err) {
          session.report(err);
        }
      }
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });

  image
    .command("rm")
    .alias("remove")
    .description("remove images (refused while containers use them, unless forced)")
    .argument("<reference...>", "id, id prefix or tag")
    .option("-f, --force", "remove the containers using the image first")
    .action(async (refs: string[], opts: { force?: boolean }) => {
      const client = await imageClient(session);
      for (const reference of refs) {
        try {
          const res = await unary(client.removeImage.bind(client), { reference, force: opts.force === true });
          for (const l of res.removedLayers) process.stdout.write(`Deleted layer: ${l}\n`);
          process.stdout.write(`Deleted: ${res.id}\n`);
        } catch (err) {
          session.report(err);
        }
      }
    });
}
