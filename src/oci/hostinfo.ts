// Facts read from the host (resource limits) and from a container's root
// filesystem (users and groups) that spec generation needs.
import { open, readFile, realpath } from "node:fs/promises";
import { constants } from "node:fs";
import { join, sep } from "node:path";
import { invalidArgument } from "../errors.js";
import type { HostLimits, ResolvedUser } from "./spec.js";
import { ALL_CAPABILITIES } from "../domain/spec-defaults.js";

/** What "unlimited" in /proc/self/limits becomes: larger than any default we clamp. */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Parses the text of /proc/<pid>/limits into the hard limits hull needs. */
export function parseLimits(text: string): HostLimits {
  const hard = (label: string): number => {
    const line = text.split("\n").find((l) => l.startsWith(label));
    if (!line) throw new Error(`no "${label}" line in limits`);
    // Columns: name (with spaces), soft, hard, units; so split after the name.
    const fields = line.slice(label.length).trim().split(/\s+/);
    const value = fields[1];
    if (value === "unlimited") return UNLIMITED;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad hard limit "${value}" for "${label}"`);
    return n;
  };
  return { nofileHard: hard("Max open files"), nprocHard: hard("Max processes") };
}

const CAP_SYS_RESOURCE = 24n;

/** Whether a /proc/PID/status text's effective capabilities hold CAP_SYS_RESOURCE. */
export function hasSysResource(status: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
}

/**
 * The host's hard limits, and the oom_score_adj floor: without
 * CAP_SYS_RESOURCE (as on a host that withholds it) no process may lower its
 * oom_score_adj below what it has, so hulld's own value is the floor.
 */
/** The capabilities a /proc/PID/status set line names (CapBnd, CapEff), by bit: ALL_CAPABILITIES is in kernel order. */
export function capabilitySet(status: string, line: "CapBnd" | "CapEff"): string[] {
  const hex = new RegExp(`^${line}:\\s*([0-9a-f]+)$`, "m").exec(status)?.[1];
  if (hex === undefined) return [...ALL_CAPABILITIES];
  const bits = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => ((bits >> BigInt(bit)) & 1n) === 1n);
}

export async function readHostLimits(path = "/proc/self/limits"): Promise<HostLimits> {
  const status = await readFile("/proc/self/status", "utf8");
  // No container can hold a capability hulld's own bounding set lacks (runc fails "unable to apply caps").
  const limits = { ...parseLimits(await readFile(path, "utf8")), boundingCapabilities: capabilitySet(status, "CapBnd") };
  if (hasSysResource(status)) return limits;
  const own = Number((await readFile("/proc/self/oom_score_adj", "utf8")).trim());
  return Number.isSafeInteger(own) ? { ...limits, oomScoreAdjFloor: own } : limits;
}

// ---- Users ---------------------------------------------------------------

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 0xfffffffe; // (uid_t)-1 means "no change" to the kernel
const MAX_FILE = 4 * 1024 * 1024;

function parseId(s: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || line.startsWith("#")) continue;
    const uid = parseId(f[2] ?? "");
    const gid = parseId(f[3] ?? "");
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0] ?? "", uid, gid, home: f[5] ?? "" });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || line.startsWith("#")) continue;
    const gid = parseId(f[2] ?? "");
    if (gid === undefined) continue;
    out.push({ name: f[0] ?? "", gid, members: (f[3] ?? "").split(",").filter((m) => m !== "") });
  }
  return out;
}

/**
 * Reads rootfs/<rel> without leaving the rootfs: an image may hold symlinks
 * (absolute or ../..) that would resolve to host files such as the host's own
 * /etc/passwd. A missing file reads as "" (numeric ids still work).
 */
export async function readRootfsFile(rootfs: string, rel: string): Promise<string> {
  const root = await realpath(rootfs);
  let real: string;
  try {
    real = await realpath(join(root, rel));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw invalidArgument("user", `/${rel} in the root filesystem resolves outside it`);
  }
  // O_NOFOLLOW: the path was just resolved; a symlink swapped in since is refused.
  const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw invalidArgument("user", `/${rel} in the root filesystem is not a regular file`);
    if (st.size > MAX_FILE) throw invalidArgument("user", `/${rel} in the root filesystem is larger than ${MAX_FILE} bytes`);
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}

/**
 * Resolves "", "uid", "uid:gid", "name", "name:group" against the rootfs's
 * /etc/passwd and /etc/group. Names must exist there; numeric ids need not
 * (as in Docker and Podman: such a user gets gid 0 and home "/").
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  if (spec === "") return { uid: 0, gid: 0, additionalGids: [], home: "/root" };
  const parts = spec.split(":");
  if (parts.length > 2 || parts[0] === "" || parts[1] === "") {
    throw invalidArgument("user", `"${spec.slice(0, 60)}" is not user[:group]`);
  }
  const [userPart = "", groupPart] = parts;
  const passwd = parsePasswd(await readRootfsFile(rootfs, "etc/passwd"));

  let entry: PasswdEntry | undefined;
  let uid: number;
  const numericUid = parseId(userPart);
  if (numericUid !== undefined) {
    uid = numericUid;
    entry = passwd.find((p) => p.uid === uid);
  } else {
    if (/^[0-9]+$/.test(userPart)) throw invalidArgument("user", `uid ${userPart} is out of range`);
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidArgument("user", `no user "${userPart.slice(0, 60)}" in the container's /etc/passwd`);
    uid = entry.uid;
  }

  // /etc/group is only needed for a group name or supplementary groups.
  const needGroups = (groupPart !== undefined && parseId(groupPart) === undefined) || entry !== undefined;
  const groups = needGroups ? parseGroup(await readRootfsFile(rootfs, "etc/group")) : [];

  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      if (/^[0-9]+$/.test(groupPart)) throw invalidArgument("user", `gid ${groupPart} is out of range`);
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument("user", `no group "${groupPart.slice(0, 60)}" in the container's /etc/group`);
      gid = g.gid;
    }
  }

  const name = entry?.name;
  const additionalGids = name === undefined ? [] : [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  const home = entry && entry.home !== "" ? entry.home : "/";
  return { uid, gid, additionalGids, home };
}
