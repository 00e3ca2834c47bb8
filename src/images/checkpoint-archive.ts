// The checkpoint archive: one tar (gzip-compressed when the file name ends in
// .gz or .tgz) that a fresh hulld can restore a container from.
//
//   hull-checkpoint.json   the manifest: format version, the container's name,
//                          id, restart count and config (ContainerConfig JSON)
//   checkpoint/...         the CRIU image dir `runc checkpoint` wrote
//   rootfs/...             the container's filesystem, unless ignore_rootfs
//
// The manifest is always the first entry, so a reader learns what it is
// restoring before it unpacks anything. For rootfs_path containers rootfs/
// holds the whole root filesystem: hull keeps no upper dir for them, so the
// whole tree is "the changes".
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { ContainerConfig } from "../gen/hull/v1/container.js";
import { HullError, invalidArgument } from "../errors.js";
import { packTree, safeParts, unpackEntry } from "./tree-tar.js";

export const MANIFEST_NAME = "hull-checkpoint.json";
export const CRIU_PREFIX = "checkpoint";
export const ROOTFS_PREFIX = "rootfs";
export const FORMAT_VERSION = 1;
const MAX_MANIFEST = 4 * 1024 * 1024;

export interface CheckpointManifest {
  version: number;
  id: string;
  name: string;
  restartCount: number;
  config: ContainerConfig;
  /** Whether checkpoint/ holds a CRIU image. */
  hasCriuImage: boolean;
  /** Whether rootfs/ holds the filesystem ("full": the whole rootfs_path tree). */
  rootfs: "none" | "full";
  createdAt: string;
  /** The OCI runtime that wrote the CRIU image; restore must use the same. */
  runtime: string;
}

export interface WriteArchiveInput {
  target: string;
  manifest: CheckpointManifest;
  /** The CRIU image dir; absent: the archive holds no image. */
  criuDir?: string;
  /** The root filesystem to archive; absent: ignore_rootfs. */
  rootfsDir?: string;
}

function gzipped(path: string): boolean {
  return /\.(t?gz)$/.test(path);
}

function manifestJson(m: CheckpointManifest): string {
  return JSON.stringify({ ...m, config: ContainerConfig.toJSON(m.config) }, null, 2);
}

/**
 * Writes the archive to a temp file beside target, then renames it over
 * target: a failed checkpoint never leaves a half archive under the name.
 */
export async function writeCheckpointArchive(input: WriteArchiveInput): Promise<void> {
  const manifest: CheckpointManifest = {
    ...input.manifest,
    hasCriuImage: input.criuDir !== undefined,
    rootfs: input.rootfsDir !== undefined ? "full" : "none",
  };
  const tmp = join(dirname(input.target), `.${basename(input.target)}.${randomBytes(6).toString("hex")}`);
  const pack = tar.pack();
  const out = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
  const written = gzipped(input.target) ? pipeline(pack, createGzip(), out) : pipeline(pack, out);
  try {
    const fill = async (): Promise<void> => {
      const body = Buffer.from(manifestJson(manifest));
      await new Promise<void>((resolve, reject) =>
        pack.entry({ name: MANIFEST_NAME, mode: 0o600, size: body.length, mtime: new Date() }, body, (e) => (e ? reject(e) : resolve())),
      );
      if (input.criuDir !== undefined) await packTree(pack, input.criuDir, CRIU_PREFIX);
      if (input.rootfsDir !== undefined) await packTree(pack, input.rootfsDir, ROOTFS_PREFIX);
      pack.finalize();
    };
    const filling = fill().catch((err: unknown) => {
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
    await Promise.all([filling, written]);
    await rename(tmp, input.target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The archive's bytes, gunzipped when they start with gzip's magic. */
async function archiveStream(path: string): Promise<Readable> {
  const fh = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
    throw invalidArgument("target_file", `cannot read "${path}": ${err.code ?? err.message}`);
  });
  const magic = Buffer.alloc(2);
  try {
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(path);
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) return raw;
  const gunzip = createGunzip();
  raw.on("error", (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

function parseManifest(text: string, path: string): CheckpointManifest {
  const bad = (why: string): HullError => invalidArgument("target_file", `"${path}" is not a hull checkpoint archive: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad(`${MANIFEST_NAME} is not JSON`);
  }
  if (typeof v !== "object" || v === null) throw bad(`${MANIFEST_NAME} is not an object`);
  const o = v as Record<string, unknown>;
  if (o.version !== FORMAT_VERSION) throw bad(`format version ${String(o.version)}, this hulld reads ${FORMAT_VERSION}`);
  if (typeof o.id !== "string" || typeof o.name !== "string" || typeof o.config !== "object" || o.config === null)
    throw bad("manifest lacks id, name or config");
  return {
    version: FORMAT_VERSION,
    id: o.id,
    name: o.name,
    restartCount: typeof o.restartCount === "number" ? o.restartCount : 0,
    config: ContainerConfig.fromJSON(o.config),
    hasCriuImage: o.hasCriuImage === true,
    rootfs: o.rootfs === "full" ? "full" : "none",
    createdAt: typeof o.createdAt === "string" ? o.createdAt : "",
    runtime: typeof o.runtime === "string" ? o.runtime : "",
  };
}

/** Reads only the manifest (the first entry) and stops. */
export async function readCheckpointManifest(path: string): Promise<CheckpointManifest> {
  const input = await archiveStream(path);
  const extract = tar.extract();
  input.on("error", (err) => extract.destroy(err));
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      if (entry.header.name !== MANIFEST_NAME)
        throw invalidArgument("target_file", `"${path}" is not a hull checkpoint archive: its first entry is not ${MANIFEST_NAME}`);
      let text = "";
      for await (const chunk of entry) {
        text += (chunk as Buffer).toString("utf8");
        if (text.length > MAX_MANIFEST) throw invalidArgument("target_file", `${MANIFEST_NAME} is larger than ${MAX_MANIFEST} bytes`);
      }
      return parseManifest(text, path);
    }
    throw invalidArgument("target_file", `"${path}" is an empty archive`);
  } catch (err) {
    if (err instanceof HullError) throw err;
    throw invalidArgument("target_file", `"${path}" is not a readable tar archive: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    input.unpipe(extract);
    extract.destroy();
    input.destroy();
  }
}

export interface ExtractTargets {
  /** Where checkpoint/ goes; absent: skipped. */
  criuDir?: string;
  /** Where rootfs/ goes; absent: skipped (ignore_rootfs). */
  rootfsDir?: string;
}

/** Unpacks the archive's parts into the given dirs (each must not exist yet or be empty). */
export async function extractCheckpointArchive(path: string, targets: ExtractTargets): Promise<void> {
  const input = await archiveStream(path);
  const extract = tar.extract();
  input.on("error", (err) => extract.destroy(err));
  input.pipe(extract);
  const made = new Set<string>();
  try {
    for await (const entry of extract) {
      const parts = safeParts(entry.header.name);
      const [top, ...rest] = parts;
      const dest = top === CRIU_PREFIX ? targets.criuDir : top === ROOTFS_PREFIX ? targets.rootfsDir : undefined;
      if (dest === undefined) {
        entry.resume();
        continue;
      }
      if (!made.has(dest)) {
        // The writer emits each part's root first; a foreign tar may not.
        await mkdir(dest, { recursive: true, mode: 0o700 });
        made.add(dest);
      }
      let header = entry.header;
      if (header.type === "link") {
        // Hard links name their first path in the archive: it must lie in the same part.
        const [linkTop, ...linkRest] = safeParts(header.linkname);
        if (linkTop !== top) throw invalidArgument("target_file", `archive entry ${entry.header.name.slice(0, 120)} links outside ${top}/`);
        header = { ...header, linkname: linkRest.join("/") };
      }
      await unpackEntry(dest, rest, header, entry);
    }
  } finally {
    // An entry refused mid-way stops the read: release the file and the gunzip.
    input.unpipe(extract);
    input.destroy();
  }
}
