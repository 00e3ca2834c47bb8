// Checks on the parts of a ContainerConfig that shape the OCI spec: user
// mounts and SecurityOptions. The shape checks are pure (generateSpec runs
// them too, so a spec never carries a malformed mount or an unknown
// capability); the host-side checks need the filesystem and belong to create
// time. Plain functions, each refusal an INVALID_ARGUMENT naming the field
// relative to the config ("mounts[0].source"), or under `prefix` when given
// ("config" gives "config.mounts[0].source").
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, posix } from "node:path";
import type { Mount, SecurityOptions, UserNamespace } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import {
  ALL_CAPABILITIES,
  DEFAULT_USERNS_SIZE,
  type IdMappings,
  type IdRange,
  MOUNT_FLAG_OPTIONS,
  RELABEL_OPTIONS,
  RESERVED_DESTINATIONS,
  TMPFS_VALUE_OPTIONS,
} from "../domain/spec-defaults.js";
import { loadSeccompProfile } from "./seccomp-profile.js";
import { checkImageRef } from "./rules.js";

const MOUNT_TYPES = new Set(["", "bind", "tmpfs", "proc", "image"]);
const KNOWN_CAPS = new Set(ALL_CAPABILITIES);
const MAX_CAPS = 64;
/** The highest id a mapping may reach: (uid_t)-1 is the kernel's "no id". */
const MAX_MAPPED_ID = 0xfffffffe;

/** A field name under the optional prefix. */
function fieldName(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

function checkPath(field: string, path: string): void {
  if (path === "") throw invalidArgument(field, "empty");
  if (path.includes("\0")) throw invalidArgument(field, "contains a NUL byte");
  if (path.length > 4096) throw invalidArgument(field, "longer than 4096 bytes");
  if (!isAbsolute(path)) throw invalidArgument(field, `"${path.slice(0, 80)}" is not an absolute path`);
  if (path.split("/").includes("..")) throw invalidArgument(field, `"${path.slice(0, 80)}" contains ".."`);
}

function checkMountOption(field: string, type: string, option: string): void {
  // The runtime joins options with commas for mount(2): one option, one entry.
  if (option === "" || option.includes(",") || option.includes("\0")) throw invalidArgument(field, `"${option.slice(0, 40)}" is not a single mount option`);
  if (MOUNT_FLAG_OPTIONS.has(option) || RELABEL_OPTIONS.has(option)) return;
  const eq = option.indexOf("=");
  const pattern = eq > 0 ? TMPFS_VALUE_OPTIONS[option.slice(0, eq)] : undefined;
  if (pattern && type === "tmpfs") {
    if (!pattern.test(option.slice(eq + 1))) throw invalidArgument(field, `"${option.slice(0, 40)}" has a malformed value`);
    return;
  }
  const allowed = [...MOUNT_FLAG_OPTIONS, ...RELABEL_OPTIONS, ...(type === "tmpfs" ? Object.keys(TMPFS_VALUE_OPTIONS).map((k) => `${k}=`) : [])];
  throw invalidArgument(field, `"${option.slice(0, 40)}" is not a known ${type} mount option (${allowed.join(", ")})`);
}

/** Pure shape check of mounts[index]. */
export function validateMountShape(m: Mount, index: number, prefix = ""): void {
  const at = fieldName(prefix, `mounts[${index}]`);
  if (!MOUNT_TYPES.has(m.type)) throw invalidArgument(`${at}.type`, `"${m.type.slice(0, 40)}" is not bind, tmpfs, proc or image`);
  const type = m.type === "" ? "bind" : m.type;
  checkPath(`${at}.destination`, m.destination);
  if (RESERVED_DESTINATIONS.has(posix.normalize(m.destination).replace(/(.)\/+$/, "$1"))) {
    throw invalidArgument(
      `${at}.destination`,
      `cannot mount over the container's ${posix.normalize(m.destination)} itself (${[...RESERVED_DESTINATIONS].join(", ")} are reserved)`,
    );
  }
  if (type === "bind") checkPath(`${at}.source`, m.source);
  if (type === "image") checkImageVolumeShape(at, m);
  if (m.options.length > 64) throw invalidArgument(`${at}.options`, "more than 64 options");
  m.options.forEach((o, j) => checkMountOption(`${at}.options[${j}]`, type, o));
}

/**
 * An image volume names an image, not a host path, and is read-only: the
 * CRI says image volumes are always read-only, and containerd refuses one
 * asked for writable ("readonly must be true") rather than quietly making
 * it read-only, so hull refuses "rw" too. Which image it is, and whether it
 * is in the store, is create's business (it needs the store).
 */
function checkImageVolumeShape(at: string, m: Mount): void {
  checkImageRef(`${at}.source`, m.source);
  const rw = m.options.indexOf("rw");
  if (rw >= 0)
    throw invalidArgument(
      `${at}.options[${rw}]`,
      `image volume ${m.source.slice(0, 80)} at ${m.destination.slice(0, 80)} is always read-only: "rw" is refused`,
    );
}

/** Same as validateMountShape: the name the daemon code uses. */
export const validateMount = validateMountShape;

async function canonical(path: string): Promise<string> {
  return realpath(path).catch(() => posix.normalize(path));
}

/**
 * Shape plus host check: every bind source must exist now and must not be, or
 * lie under, one of `protectedDirs` (hulld's root and run root: a container
 * that can write the store or the bundles owns the daemon). Symlinks are
 * resolved first, so a link cannot smuggle them in.
 */
/**
 * Every bind source exists and lies outside protectedDirs (hulld's own
 * state), except under granted: dirs hulld wrote for this very container
 * (a pod's hostname, hosts and resolv.conf).
 */
export async function checkMountSources(mounts: Mount[], protectedDirs: readonly string[] = [], prefix = "", granted: readonly string[] = []): Promise<void> {
  const guarded = await Promise.all(protectedDirs.map(canonical));
  const allowed = await Promise.all(granted.map(canonical));
  const inside = (real: string, dir: string): boolean => real === dir || real.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
  for (const [i, m] of mounts.entries()) {
    validateMountShape(m, i, prefix);
    if (m.type !== "" && m.type !== "bind") continue;
    const field = fieldName(prefix, `mounts[${i}].source`);
    const exists = await stat(m.source).then(
      () => true,
      () => false,
    );
    if (!exists) throw invalidArgument(field, `"${m.source.slice(0, 80)}" does not exist`);
    const real = await realpath(m.source);
    if (allowed.some((dir) => inside(real, dir))) continue;
    const hit = guarded.find((dir) => inside(real, dir));
    if (hit !== undefined) throw invalidArgument(field, `"${m.source.slice(0, 80)}" is hulld's own state (${hit}) or inside it`);
  }
}

// ---- SecurityOptions ----------------------------------------------------------

/** "net_raw", "NET_RAW", "cap_net_raw" → "CAP_NET_RAW"; "all" → "ALL"; undefined when unknown. */
export function normaliseCapability(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  return KNOWN_CAPS.has(full) ? full : undefined;
}

function checkCapList(field: string, names: readonly string[]): string[] {
  if (names.length > MAX_CAPS) throw invalidArgument(field, `more than ${MAX_CAPS} entries`);
  return names.map((name, i) => {
    const cap = normaliseCapability(name);
    if (cap === undefined) throw invalidArgument(`${field}[${i}]`, `"${name.slice(0, 40)}" is not a Linux capability (e.g. NET_RAW, CAP_SYS_ADMIN, ALL)`);
    return cap;
  });
}

/**
 * cap_ambient: named capabilities only (the kernel raises ambient ones one by
 * one, and containerd skips "ALL" there), none that cap_drop names: as with
 * cap_add, both at once is a contradiction. cap_drop ALL is not one: the
 * ambient ones are what is kept (containerd adds them after the drops).
 */
function checkAmbient(field: string, names: readonly string[], drop: readonly string[]): void {
  const ambient = checkCapList(field, names);
  const all = ambient.indexOf("ALL");
  if (all >= 0) throw invalidArgument(`${field}[${all}]`, "ALL cannot be ambient: name each capability");
  const dropped = ambient.find((c) => drop.includes(c));
  if (dropped !== undefined) throw invalidArgument(field, `${dropped} is both ambient and dropped`);
}

/** The user namespace's mappings, or undefined for hulld's own namespace. */
export function userNamespaceMapping(ns: UserNamespace | undefined): IdMappings | undefined {
  if (!ns || ns.mode === "" || ns.mode === "host") return undefined;
  const uid = { hostId: ns.hostId, size: ns.size === 0 ? DEFAULT_USERNS_SIZE : ns.size };
  const gid = ns.gidHostId === undefined ? uid : { hostId: ns.gidHostId, size: ns.gidSize === 0 ? DEFAULT_USERNS_SIZE : ns.gidSize };
  return { uid, gid };
}

function checkIdRange(at: string, which: string, r: IdRange): void {
  if (!Number.isInteger(r.hostId) || r.hostId < 0) throw invalidArgument(`${at}.${which}host_id`, "must be a uint32");
  if (!Number.isInteger(r.size) || r.size < 1) throw invalidArgument(`${at}.${which}size`, "must be at least 1");
  if (r.hostId + r.size - 1 > MAX_MAPPED_ID) {
    throw invalidArgument(`${at}.${which}size`, `host ids ${r.hostId}..${r.hostId + r.size - 1} go past ${MAX_MAPPED_ID}`);
  }
}

function checkUserNamespace(at: string, ns: UserNamespace | undefined): void {
  if (!ns) return;
  if (ns.mode !== "" && ns.mode !== "host" && ns.mode !== "private") throw invalidArgument(`${at}.mode`, `"${ns.mode.slice(0, 40)}" is not host or private`);
  if (ns.mode !== "private") {
    if (ns.hostId !== 0 || ns.size !== 0 || ns.gidHostId !== undefined || ns.gidSize !== 0) throw invalidArgument(`${at}.mode`, "a mapping needs mode private");
    return;
  }
  if (ns.gidHostId === undefined && ns.gidSize !== 0) throw invalidArgument(`${at}.gid_size`, "needs gid_host_id");
  const map = userNamespaceMapping(ns);
  if (!map) return;
  checkIdRange(at, "", map.uid);
  checkIdRange(at, "gid_", map.gid);
}

/** Pure checks of security (the profile file itself is checkSecurity's). */
export function validateSecurityShape(sec: SecurityOptions | undefined, prefix = ""): void {
  if (!sec) return;
  const at = fieldName(prefix, "security");
  const add = checkCapList(`${at}.cap_add`, sec.capAdd);
  const drop = checkCapList(`${at}.cap_drop`, sec.capDrop);
  // As Podman: naming one capability on both sides is a contradiction, not an order.
  const both = add.find((c) => c !== "ALL" && drop.includes(c));
  if (both !== undefined) throw invalidArgument(`${at}.cap_add`, `${both} is both added and dropped`);
  if (add.includes("ALL") && drop.includes("ALL")) throw invalidArgument(`${at}.cap_add`, "ALL is both added and dropped");
  checkAmbient(`${at}.cap_ambient`, sec.capAmbient, drop);
  const profile = sec.seccompProfile;
  if (profile !== "" && profile !== "unconfined") checkPath(`${at}.seccomp_profile`, profile);
  checkUserNamespace(`${at}.user_namespace`, sec.userNamespace);
}

/** validateSecurityShape, then reads and checks a seccomp profile file when one is named. */
export async function checkSecurity(sec: SecurityOptions | undefined, prefix = ""): Promise<void> {
  validateSecurityShape(sec, prefix);
  if (sec && sec.seccompProfile !== "" && sec.seccompProfile !== "unconfined") {
    await loadSeccompProfile(fieldName(prefix, "security.seccomp_profile"), sec.seccompProfile);
  }
}
