// Unpacks one layer tar stream into a directory that no entry may escape:
// names with ".." or a leading "/" are refused, and every parent directory is
// checked with lstat (a symlink planted by an earlier entry is never
// followed). OCI whiteouts become overlayfs whiteouts (0:0 char devices).
import { createWriteStream, type Stats } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CommandError, runChecked, runCommand } from "../command.js";
import tar from "tar-stream";
import { HullError, invalidArgument } from "../errors.js";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/** Entry name → path components inside the layer; refuses anything that could escape. */

/**
 * OCI's opaque marker becomes overlayfs' trusted.overlay.opaque xattr on the
 * directory (lower layers' entries under it are hidden). Node has no
 * setxattr, so Debian's setfattr (package attr, installed by setup.sh) sets it.
 */
async function markOpaque(dir: string, name: string): Promise<void> {
  try {
    await runChecked("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", dir]);
  } catch (err) {
    const missing = err instanceof CommandError && err.code === "ENOENT";
    const why = missing ? "setfattr is not installed (Debian package attr)" : err instanceof Error ? err.message : String(err);
    throw new HullError("INVALID_ARGUMENT", `layer has an opaque directory marker "${name}" that cannot be applied: ${why}`, { field: "layer" });
  }
}
export function safeParts(name: string, field = "layer entry"): string[] {
  if (name.includes("\0")) throw invalidArgument(field, "name contains a NUL byte");
  if (name.startsWith("/")) throw invalidArgument(field, `"${name.slice(0, 120)}" is an absolute path`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalidArgument(field, `"${name.slice(0, 120)}" contains ".."`);
  return parts;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  return lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
}

/** Creates the parents of parts under root as real directories, refusing symlinks. */
async function ensureParents(root: string, parts: string[]): Promise<string> {
  let dir = root;
  for (const p of parts.slice(0, -1)) {
    dir = join(dir, p);
    const st = await lstatOrUndefined(dir);
    if (!st) await mkdir(dir, { mode: 0o755 });
    else if (!st.isDirectory()) throw invalidArgument("layer entry", `"${parts.join("/")}" has a parent "${p}" that is not a directory`);
  }
  return dir;
}

async function existingParents(root: string, parts: string[], name: string): Promise<string> {
  let dir = root;
  for (const p of parts.slice(0, -1)) {
    dir = join(dir, p);
    const st = await lstatOrUndefined(dir);
    if (!st?.isDirectory()) throw invalidArgument("layer entry", `hard link "${name}" points through "${p}", which is not a directory in the layer`);
  }
  return dir;
}

async function mknod(path: string, args: string[]): Promise<void> {
  const r = await runCommand("mknod", [path, ...args]);
  if (r.exitCode !== 0) throw new HullError("INTERNAL", `mknod ${path} ${args.join(" ")} failed: ${r.stderr}`);
}

export interface ExtractResult {
  entries: number;
  /** Entry types skipped (with why), for the log. */
  skipped: string[];
}

/** Extracts tarStream (already decompressed) into root, which must exist and be empty. */
export async function extractLayer(tarStream: Readable, root: string): Promise<ExtractResult> {
  const ex = tar.extract();
  const dirTimes: { path: string; mtime: Date }[] = [];
  const result: ExtractResult = { entries: 0, skipped: [] };
  const consume = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      const parts = safeParts(h.name);
      if (parts.length === 0) {
        entry.resume();
        continue;
      }
      result.entries++;
      const parent = await ensureParents(root, parts);
      const base = parts[parts.length - 1];
      if (base === OPAQUE) {
        entry.resume();
        await markOpaque(parent, h.name);
        continue;
      }
      const target = base.startsWith(WHITEOUT) ? join(parent, base.slice(WHITEOUT.length)) : join(parent, base);
      const existing = await lstatOrUndefined(target);
      if (existing && !(existing.isDirectory() && h.type === "directory")) await rm(target, { recursive: true, force: true });
      if (base.startsWith(WHITEOUT)) {
        entry.resume();
        if (base.length === WHITEOUT.length) throw invalidArgument("layer entry", `"${h.name}" is an empty whiteout`);
        await mknod(target, ["c", "0", "0"]);
        continue;
      }
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date(0);
      switch (h.type) {
        case "file":
        case "contiguous-file":
        case undefined:
        case null:
          await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
          break;
        case "directory":
          entry.resume();
          if (!existing) await mkdir(target, { mode: 0o755 });
          dirTimes.push({ path: target, mtime });
          break;
        case "symlink":
          entry.resume();
          await symlink(h.linkname ?? "", target);
          break;
        case "link": {
          entry.resume();
          const srcParts = safeParts(h.linkname ?? "", "hard link target");
          // link() follows symlinks in the parents: they must be real directories.
          const src = join(await existingParents(root, srcParts, h.name), srcParts[srcParts.length - 1] ?? "");
          const st = await lstatOrUndefined(src);
          if (!st || !st.isFile())
            throw invalidArgument("layer entry", `hard link "${h.name}" points at "${h.linkname ?? ""}", which is not a regular file in the layer`);
          await link(src, target);
          break;
        }
        case "character-device":
        case "block-device":
          entry.resume();
          await mknod(target, [h.type === "character-device" ? "c" : "b", String(h.devmajor ?? 0), String(h.devminor ?? 0)]);
          break;
        case "fifo":
          entry.resume();
          await mknod(target, ["p"]);
          break;
        default:
          entry.resume();
          result.skipped.push(`${h.name} (${h.type})`);
          continue;
      }
      if (h.type === "link") continue;
      await lchown(target, h.uid ?? 0, h.gid ?? 0);
      // chown clears set-id bits, so the mode goes on after it; symlinks have none.
      if (h.type !== "symlink") await chmod(target, mode);
      if (h.type !== "directory") await lutimes(target, mtime, mtime);
    }
  })();
  await Promise.all([pipeline(tarStream, ex), consume]);
  // Deepest first, after every child was written.
  // lutimes: a later entry may have replaced the directory with a symlink.
  for (const d of dirTimes.reverse()) await lutimes(d.path, d.mtime, d.mtime);
  return result;
}
