// A tar of a root filesystem, produced as it is sent: tar-stream's pack fed
// by a walk of the tree, drained by the caller's send() in chunks of at most
// EXPORT_CHUNK_BYTES. Memory stays bounded: a file is read only as fast as
// send() accepts its bytes.
//
// The tree may belong to a running container, which could swap a directory
// for a symlink to "/" mid-walk. So nothing is resolved by path from the
// root: each directory is opened (O_NOFOLLOW) and its children are reached
// through /proc/self/fd/<dirfd>/<name>, and each file is opened O_NOFOLLOW
// and checked to be the inode lstat saw. Symlinks are archived, never followed.
//
// Entries: directories ("name/"), regular files, symlinks, hard links (a
// second name of an inode already archived becomes a link entry), character
// and block devices (major/minor), FIFOs; ownership (numeric uid/gid), modes
// (with setuid/setgid/sticky bits) and mtimes (whole seconds, as ustar keeps
// them). Sockets are skipped, as GNU tar and containers/storage do. The
// root directory itself is not an entry; names are relative ("etc/passwd").
import { once } from "node:events";
import { constants, type BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink, realpath, type FileHandle } from "node:fs/promises";
import tar from "tar-stream";
import { HullError } from "../errors.js";

/** The largest chunk in one ExportContainerResponse. */
export const EXPORT_CHUNK_BYTES = 64 * 1024;

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
/** ustar's uid/gid fields hold 6 octal digits; larger ids go in a pax header. */
const USTAR_MAX_ID = 0o777777;
const ZEROS = Buffer.alloc(64 * 1024);

type Header = Partial<tar.Header> & { name: string; pax?: Record<string, string> };

export interface ExportLog {
  warn(obj: object, msg: string): void;
}

/** Linux's encoding of a device number (glibc's major()/minor()). */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

function baseHeader(name: string, st: BigIntStats): Header {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  // The whole st_mode, type bits too: tar-stream keeps only the low 12 bits but
  // replaces a mode of 0 (chmod 000) with 0644 as if none were given.
  const h: Header = { name, mode: Number(st.mode), uid, gid, mtime: new Date(Number(st.mtimeMs)), size: 0 };
  if (uid > USTAR_MAX_ID || gid > USTAR_MAX_ID) h.pax = { uid: String(uid), gid: String(gid) };
  return h;
}

type Sink = ReturnType<tar.Pack["entry"]>;

/** Resolves once the entry can take more, rejecting if it is (or gets) destroyed first. */
function drained(w: Sink): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // A write to an entry the pack's destruction already closed returns false
    // and will never drain: its "close" is in the past.
    if (w.destroying || w.destroyed) {
      reject(new Error("tar entry destroyed before its data was written"));
      return;
    }
    const cleanup = (): void => {
      w.off("drain", onDrain);
      w.off("close", onClose);
      w.off("error", onError);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error("tar entry closed before its data was written"));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    w.on("drain", onDrain);
    w.on("close", onClose);
    w.on("error", onError);
  });
}

class TreeWriter {
  /** dev:ino → the archive name first given to an inode with several links. */
  private readonly linked = new Map<string, string>();

  constructor(
    private readonly pack: tar.Pack,
    private readonly signal: AbortSignal,
    private readonly log?: ExportLog,
  ) {}

  private entry(header: Header): { sink: Sink; done: Promise<void> } {
    let settle: (err?: Error | null) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    const sink = this.pack.entry(header, (err) => settle(err));
    // A destroyed pack destroys the entry: its error reaches us through done
    // (or the drain wait), so neither the event nor an un-awaited done may crash the daemon.
    sink.on("error", () => undefined);
    done.catch(() => undefined);
    return { sink, done };
  }

  /** Writes the entries below the directory open as dir, names prefixed with rel. */
  async walk(dir: FileHandle, rel: string): Promise<void> {
    const base = `/proc/self/fd/${dir.fd}`;
    const raw = await readdir(base, { encoding: "buffer" });
    const names = raw.map((b) => {
      const s = b.toString("utf8");
      // tar-stream writes names as UTF-8: another encoding could not come back as it was.
      if (!Buffer.from(s, "utf8").equals(b)) throw new HullError("INTERNAL", `cannot export ${rel}${s}: the file name is not valid UTF-8`);
      return s;
    });
    names.sort();
    for (const name of names) {
      if (this.signal.aborted) throw new HullError("UNAVAILABLE", "export cancelled by the client");
      await this.one(`${base}/${name}`, rel + name);
    }
  }

  private async one(path: string, name: string): Promise<void> {
    let st: BigIntStats;
    try {
      st = await lstat(path, { bigint: true });
    } catch (err) {
      // Removed by the container since the directory was read: nothing to archive.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    const header = baseHeader(name, st);
    if (st.isDirectory()) return this.directory(path, header, st);
    if (st.isSocket()) return;
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.linked.get(key);
      if (first !== undefined) return this.add({ ...header, type: "link", linkname: first });
      this.linked.set(key, name);
    }
    if (st.isFile()) {
      // Skipped (changed under us): later names of the inode must not link to it.
      if (!(await this.file(path, header, st))) this.linked.delete(`${st.dev}:${st.ino}`);
      return;
    }
    if (st.isSymbolicLink()) return this.add({ ...header, type: "symlink", linkname: await readlink(path) });
    if (st.isFIFO()) return this.add({ ...header, type: "fifo" });
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      return this.add({ ...header, type: st.isCharacterDevice() ? "character-device" : "block-device", devmajor: major, devminor: minor });
    }
    this.log?.warn({ name, mode: Number(st.mode) }, "export: skipping a file of unknown type");
  }

  private async add(header: Header): Promise<void> {
    const { sink, done } = this.entry(header);
    // streamx's end() takes optional data; its types say otherwise.
    sink.end(undefined);
    await done;
  }

  /** Opens what lstat saw at path, refusing anything else (a swapped-in symlink fails O_NOFOLLOW). */
  private async openSame(path: string, flags: number, st: BigIntStats): Promise<FileHandle | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, flags | O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Gone, or replaced by a symlink (ELOOP) since lstat: the tree changed under us; skip it.
      if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") {
        this.log?.warn({ path, code }, "export: entry changed while being read, skipped");
        return undefined;
      }
      throw err;
    }
    const now = await fh.stat({ bigint: true });
    if (now.ino !== st.ino || now.dev !== st.dev) {
      await fh.close();
      this.log?.warn({ path }, "export: entry replaced while being read, skipped");
      return undefined;
    }
    return fh;
  }

  private async directory(path: string, header: Header, st: BigIntStats): Promise<void> {
    const fh = await this.openSame(path, O_RDONLY | O_DIRECTORY, st);
    if (!fh) return;
    try {
      await this.add({ ...header, name: `${header.name}/`, type: "directory" });
      await this.walk(fh, `${header.name}/`);
    } finally {
      await fh.close();
    }
  }

  /** Archives the file; false if it changed into something else before it could be opened. */
  private async file(path: string, header: Header, st: BigIntStats): Promise<boolean> {
    // O_NONBLOCK: a FIFO swapped in since lstat must not block the open (the inode check then skips it).
    const fh = await this.openSame(path, O_RDONLY | O_NONBLOCK, st);
    if (!fh) return false;
    try {
      // The header promises size bytes: a file that grows is cut there, one that shrinks is padded, as GNU tar does.
      const size = Number(st.size);
      const { sink, done } = this.entry({ ...header, type: "file", size });
      let left = size;
      if (size > 0) {
        const stream = fh.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: EXPORT_CHUNK_BYTES });
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          left -= chunk.length;
          if (!sink.write(chunk)) await drained(sink);
        }
      }
      if (left > 0) this.log?.warn({ path: header.name, missing: left }, "export: file shrank while being read; padded with zeros");
      while (left > 0) {
        const n = Math.min(left, ZEROS.length);
        left -= n;
        if (!sink.write(ZEROS.subarray(0, n))) await drained(sink);
      }
      sink.end(undefined);
      await done;
      return true;
    } finally {
      await fh.close();
    }
  }
}

/** Regroups the pack's output into chunks of at most EXPORT_CHUNK_BYTES (full ones but the last). */
async function pump(pack: tar.Pack, send: (chunk: Buffer) => Promise<void>): Promise<void> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const data of pack as AsyncIterable<Buffer>) {
    parts.push(data);
    size += data.length;
    if (size < EXPORT_CHUNK_BYTES) continue;
    let all = Buffer.concat(parts, size);
    while (all.length >= EXPORT_CHUNK_BYTES) {
      await send(all.subarray(0, EXPORT_CHUNK_BYTES));
      all = all.subarray(EXPORT_CHUNK_BYTES);
    }
    parts = all.length > 0 ? [all] : [];
    size = all.length;
  }
  if (size > 0) await send(Buffer.concat(parts, size));
}

/**
 * Streams a tar of the tree at root to send(), which resolves when the
 * receiver can take more. Rejects if the walk or send() fails.
 */
export async function exportTree(root: string, send: (chunk: Buffer) => Promise<void>, signal: AbortSignal, log?: ExportLog): Promise<void> {
  const top = await open(await realpath(root), O_RDONLY | O_DIRECTORY);
  const pack = tar.pack();
  // Its error reaches the consumer's iteration; the listener only keeps it from being "unhandled".
  pack.on("error", () => undefined);
  try {
    const writer = new TreeWriter(pack, signal, log);
    // The first failure is the cause; it destroys the pack, which fails the other side too.
    let cause: { err: unknown } | undefined;
    const fail = (err: unknown): void => {
      cause ??= { err };
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
    };
    await Promise.all([writer.walk(top, "").then(() => pack.finalize(), fail), pump(pack, send).catch(fail)]);
    if (cause) throw cause.err;
  } finally {
    await top.close();
  }
}

/** Waits for a writable (a gRPC call) to drain, or for the signal. */
export async function drainedOrAborted(w: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new HullError("UNAVAILABLE", "export cancelled by the client");
  try {
    await once(w, "drain", { signal });
  } catch (err) {
    if (signal.aborted) throw new HullError("UNAVAILABLE", "export cancelled by the client");
    throw err;
  }
}
