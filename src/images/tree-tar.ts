// A directory tree to and from tar entries, for checkpoint archives: modes,
// ownership, times, symlinks, hard links, fifos and device nodes kept.
// Unpacking never leaves its destination: names with ".." or a leading "/"
// are refused and no parent that is a symlink is ever followed.
import { createReadStream, createWriteStream, type Stats } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, readdir, readlink, symlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { runChecked } from "../command.js";
import type tar from "tar-stream";
import { invalidArgument } from "../errors.js";

/** Linux dev_t → major/minor (glibc's gnu_dev_major / gnu_dev_minor). */
function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}
function devMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

/** A tar header as tar-stream's pack takes it. */
export type EntryHeader = Partial<tar.Header> & { name: string };

/** An entry's body as tar-stream's extract yields it (a streamx Readable). */
export type EntryBody = AsyncIterable<unknown> & { resume(): unknown };

async function addEntry(pack: tar.Pack, header: EntryHeader, body?: Readable): Promise<void> {
  let settle: (err?: Error | null) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  const sink = pack.entry(header, (err) => settle(err));
  if (body) {
    // tar-stream's sink is a streamx Writable: fed by hand, with backpressure.
    for await (const chunk of body) {
      if (!sink.write(chunk as Buffer)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
    }
    sink.end(undefined);
  }
  await done;
}

/**
 * Adds every entry under dir to pack, named `<prefix>/<relative path>`;
 * the dir itself becomes the entry `<prefix>/`. Hard links within the tree
 * become tar link entries pointing at the first name seen.
 */
export async function packTree(pack: tar.Pack, dir: string, prefix: string): Promise<void> {
  const seen = new Map<string, string>();
  const visit = async (abs: string, name: string, st: Stats): Promise<void> => {
    const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await addEntry(pack, { ...base, name: `${name}/`, type: "directory" });
      const children = (await readdir(abs)).sort();
      for (const child of children) {
        const childAbs = join(abs, child);
        await visit(childAbs, `${name}/${child}`, await lstat(childAbs));
      }
      return;
    }
    if (!st.isSymbolicLink() && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = seen.get(key);
      if (first !== undefined) {
        await addEntry(pack, { ...base, type: "link", linkname: first, size: 0 });
        return;
      }
      seen.set(key, name);
    }
    if (st.isFile()) await addEntry(pack, { ...base, type: "file", size: st.size }, createReadStream(abs));
    else if (st.isSymbolicLink()) await addEntry(pack, { ...base, type: "symlink", linkname: await readlink(abs) });
    else if (st.isFIFO()) await addEntry(pack, { ...base, type: "fifo" });
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? "character-device" : "block-device";
      await addEntry(pack, { ...base, type, devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) });
    }
    // Sockets cannot be archived (tar has no type for them) and mean nothing once restored.
  };
  await visit(dir, prefix, await lstat(dir));
}

/** Entry name → path components; refuses anything that could escape the destination. */
export function safeParts(name: string): string[] {
  if (name.includes("\0")) throw invalidArgument("target_file", "an archive entry name contains a NUL byte");
  if (name.startsWith("/")) throw invalidArgument("target_file", `archive entry "${name.slice(0, 120)}" is an absolute path`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalidArgument("target_file", `archive entry "${name.slice(0, 120)}" contains ".."`);
  return parts;
}

/** Creates the parents of dest/parts, refusing to pass through a symlink. */
async function safeParent(dest: string, parts: string[]): Promise<string> {
  let cur = dest;
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    const st = await lstat(cur).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) await mkdir(cur, { mode: 0o755 });
    else if (!st.isDirectory()) throw invalidArgument("target_file", `archive entry path passes through non-directory ${parts.join("/").slice(0, 120)}`);
  }
  return cur;
}

/**
 * Writes one tar entry (its name already stripped of the archive prefix, as
 * parts) under dest. Directories' times are not restored: later entries
 * inside them would change them again.
 */
export async function unpackEntry(dest: string, parts: string[], header: tar.Header, body: EntryBody): Promise<void> {
  if (parts.length === 0) {
    body.resume();
    if (header.type === "directory") {
      await mkdir(dest, { recursive: true });
      await applyMeta(dest, header, false);
    }
    return;
  }
  const parent = await safeParent(dest, parts);
  const target = join(parent, parts[parts.length - 1] ?? "");
  const existing = await lstat(target).catch(() => undefined);
  if (existing && !(existing.isDirectory() && header.type === "directory")) {
    throw invalidArgument("target_file", `archive entry ${parts.join("/").slice(0, 120)} appears twice`);
  }
  switch (header.type) {
    case "directory":
      body.resume();
      if (!existing) await mkdir(target);
      break;
    case "file":
    case "contiguous-file":
      await pipeline(body, createWriteStream(target, { flags: "wx", mode: 0o600 }));
      break;
    case "symlink":
      body.resume();
      await symlink(header.linkname ?? "", target);
      break;
    case "link": {
      body.resume();
      const from = join(dest, ...safeParts(header.linkname ?? ""));
      await link(from, target);
      return; // a hard link shares the first name's inode and metadata
    }
    case "fifo":
    case "character-device":
    case "block-device": {
      body.resume();
      const kind =
        header.type === "fifo" ? ["p"] : [header.type === "character-device" ? "c" : "b", String(header.devmajor ?? 0), String(header.devminor ?? 0)];
      // Node has no mknod(2); coreutils' mknod does it.
      await runChecked("mknod", [target, ...kind]);
      break;
    }
    default:
      body.resume();
      return;
  }
  await applyMeta(target, header, header.type === "symlink");
}

async function applyMeta(path: string, header: tar.Header, isSymlink: boolean): Promise<void> {
  await lchown(path, header.uid ?? 0, header.gid ?? 0);
  if (!isSymlink) await chmod(path, (header.mode ?? 0o644) & 0o7777);
  const mtime = header.mtime ?? new Date();
  if (header.type === "directory") return;
  if (isSymlink) await lutimes(path, mtime, mtime);
  else await utimes(path, mtime, mtime);
}
