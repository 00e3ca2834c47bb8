// Who may reach hulld's unix sockets: the group that owns them (0660) and the
// directory they live in.
import { chmod, chown, mkdir, readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { HullError } from "../errors.js";

export interface SocketGroup {
  /** The name from /etc/group, or the number itself when the group has no entry. */
  name: string;
  gid: number;
}

const GROUP_FILE = "/etc/group";

function configError(message: string): HullError {
  return new HullError("INVALID_ARGUMENT", message);
}

/** Resolves `--socket-group NAME|GID`: names must exist in /etc/group; a number is taken as it is (as chgrp does). */
export async function resolveSocketGroup(spec: string, groupFile = GROUP_FILE): Promise<SocketGroup> {
  const trimmed = spec.trim();
  if (trimmed === "") throw configError("--socket-group: empty group name");
  let text: string;
  try {
    text = await readFile(groupFile, "utf8");
  } catch (err) {
    throw new HullError(
      "INVALID_ARGUMENT",
      `--socket-group ${trimmed}: cannot read ${groupFile}: ${err instanceof Error ? err.message : String(err)}`,
      {},
      { cause: err },
    );
  }
  const entries = text
    .split("\n")
    .map((line) => line.split(":"))
    .filter((f) => f.length >= 3 && f[0] !== "" && /^\d+$/.test(f[2] ?? ""))
    .map((f) => ({ name: f[0] ?? "", gid: Number(f[2]) }));
  if (/^\d+$/.test(trimmed)) {
    const gid = Number(trimmed);
    if (!Number.isSafeInteger(gid) || gid > 0xfffffffe) throw configError(`--socket-group ${trimmed}: not a valid gid`);
    return { name: entries.find((e) => e.gid === gid)?.name ?? trimmed, gid };
  }
  const found = entries.find((e) => e.name === trimmed);
  if (!found) throw configError(`--socket-group ${trimmed}: no such group in ${groupFile} (create it with groupadd, or pass a numeric gid)`);
  return found;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
}

/**
 * Makes the socket's directory safe before hulld binds in it.
 *
 * Directories hulld creates are 0700, or 0750 owned by the socket group (so
 * its members can reach the socket and nobody else can).
 *
 * An existing directory (or any ancestor) that is world-writable without the
 * sticky bit is refused, not warned about: any local user could rename the
 * socket away and put their own in its place, and clients would then talk to
 * (and hand container configs, stdin and files to) an impostor. A warning in a
 * log nobody reads does not prevent that; the fix (chmod o-w or +t) is one
 * command. Sticky directories such as /tmp are fine: others cannot rename or
 * remove what hulld created there.
 */
export async function prepareSocketDir(socket: string, group: SocketGroup | undefined, log: Logger): Promise<void> {
  const dir = dirname(socket);
  const missing: string[] = [];
  let first = dir;
  while (!(await exists(first))) {
    missing.unshift(first);
    const parent = dirname(first);
    if (parent === first) break;
    first = parent;
  }
  for (let d = first; ; d = dirname(d)) {
    const st = await stat(d);
    if (!st.isDirectory()) throw configError(`socket ${socket}: ${d} is not a directory`);
    if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
      throw configError(
        `socket ${socket}: ${d} is world-writable without the sticky bit (mode ${(st.mode & 0o7777).toString(8)}); any local user could replace the socket. Run chmod o-w (or +t) on it, or choose another path`,
      );
    }
    if (dirname(d) === d) break;
  }
  const mode = group ? 0o750 : 0o700;
  for (const d of missing) {
    await mkdir(d, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    // mkdir's mode passes through the umask; state it exactly.
    await chmod(d, mode);
    if (group) await chown(d, process.getuid?.() ?? 0, group.gid);
  }
  if (group && missing.length === 0) {
    const st = await stat(dir);
    const groupCanEnter = (st.mode & 0o001) !== 0 || (st.gid === group.gid && (st.mode & 0o010) !== 0);
    if (!groupCanEnter) {
      log.warn(
        { dir, mode: (st.mode & 0o777).toString(8), dirGid: st.gid, group: group.name },
        "members of the socket group cannot enter the socket's directory; they will not reach the socket",
      );
    }
  }
}

/** Gives the socket to the configured group; without one (as root), to root's group 0. */
export async function setSocketOwnership(socket: string, group: SocketGroup | undefined): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  if (group) await chown(socket, uid, group.gid);
  else if (uid === 0) await chown(socket, 0, 0);
  await chmod(socket, 0o660);
}
