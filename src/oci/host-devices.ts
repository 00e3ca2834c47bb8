// Device nodes read from the host: every one under /dev for a privileged
// container (containerd's and Podman's WithAllDevices), and the ones a
// config's devices name (containerd's WithDevices, CRI-O's device
// handling). One walk and one stat serve both, so a node reads the same
// either way.
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import { join, relative } from "node:path";
import type { Device } from "../gen/hull/v1/container.js";
import { checkGrantedAccess, deviceAccess, deviceContainerPath, hostDeviceRefusal } from "../validation/isolation-rules.js";
import type { GrantedDevice, OciDevice } from "./spec-types.js";

/** Never walked into: runc mounts its own pts, shm and mqueue; fd is the walker's own (containerd's getDevices skips the same). */
const SKIP_DIRS = new Set(["pts", "shm", "mqueue", "fd"]);
/** /dev's nodes that runc sets up itself (the console, the ptmx pair) or that belong to the host session. */
const SKIP_HOST_NODES = new Set(["console", "ptmx", "tty"]);
const MAX_DEPTH = 3;

type NodeDevice = GrantedDevice["device"];

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
export function splitDevice(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** The OCI entry of a device node's stat, at `path`; undefined when it is no character or block device. */
function nodeDevice(path: string, st: BigIntStats): NodeDevice | undefined {
  if (!(st.isCharacterDevice() || st.isBlockDevice())) return undefined;
  const { major, minor } = splitDevice(st.rdev);
  return { type: st.isBlockDevice() ? "b" : "c", path, major, minor, fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/**
 * The device nodes under dir, at their host paths: lstat, so a link is not
 * followed out of the tree; subdirectories to MAX_DEPTH; `skip` leaves out
 * nodes by name and depth.
 */
async function devicesUnder(dir: string, skip: (name: string, depth: number) => boolean, depth = 0): Promise<NodeDevice[]> {
  const out: NodeDevice[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    // A node can vanish between readdir and lstat (a hot-unplugged disk); it is simply not there.
    const st = await lstat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) continue;
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name) && depth < MAX_DEPTH) out.push(...(await devicesUnder(path, skip, depth + 1)));
      continue;
    }
    const device = skip(name, depth) ? undefined : nodeDevice(path, st);
    if (device) out.push(device);
  }
  return out;
}

/** The host's devices, as a privileged container gets them. */
export async function readHostDevices(dir = "/dev"): Promise<OciDevice[]> {
  return devicesUnder(dir, (name, depth) => depth === 0 && SKIP_HOST_NODES.has(name));
}

/** The nodes one device request names: itself, or those under a directory; refused when it is neither. */
async function nodesOf(d: Device, field: string): Promise<NodeDevice[]> {
  const real = await realpath(d.hostPath).catch(() => undefined);
  const st = real === undefined ? undefined : await stat(real, { bigint: true }).catch(() => undefined);
  if (real === undefined || st === undefined) throw hostDeviceRefusal(field, d.hostPath, "missing");
  const target = deviceContainerPath(d);
  const node = nodeDevice(target, st);
  if (node) return [node];
  if (!st.isDirectory()) throw hostDeviceRefusal(field, d.hostPath, "not a device");
  const found = await devicesUnder(real, (name) => name === "console");
  return found.map((n) => ({ ...n, path: join(target, relative(real, n.path)) }));
}

/**
 * The devices a config names, stat'ed now, as containerd and CRI-O do when
 * they build the spec. A link is followed first (CRI-O's
 * resolveSymbolicLink: /dev/disk/by-id/... names a disk); a directory gives
 * every node under it at the same relative path below its container path,
 * but a console, as containerd's getDevices (an empty one gives nothing, as
 * there). A host path that is missing, or no device node nor directory, is
 * refused naming `field`[i].host_path; permissions that runc would not
 * honour, naming `field`[i].permissions.
 */
export async function resolveDevices(devices: readonly Device[], field = "config.devices"): Promise<GrantedDevice[]> {
  const out: GrantedDevice[] = [];
  for (const [i, d] of devices.entries()) {
    const access = deviceAccess(d.permissions);
    for (const device of await nodesOf(d, `${field}[${i}].host_path`)) {
      checkGrantedAccess(`${field}[${i}].permissions`, device, access);
      out.push({ device, access });
    }
  }
  return out;
}
