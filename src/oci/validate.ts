// Checks on user mounts. The shape check is pure (generateSpec runs it too, so
// a spec never carries a malformed mount); the host-side check needs stat()
// and belongs to create time, when the sources must exist.
import { stat } from "node:fs/promises";
import { isAbsolute } from "node:path";
import type { Mount } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";

const MOUNT_TYPES = new Set(["", "bind", "tmpfs", "proc"]);

function checkPath(field: string, path: string): void {
  if (path === "") throw invalidArgument(field, "empty");
  if (path.includes("\0")) throw invalidArgument(field, "contains a NUL byte");
  if (!isAbsolute(path)) throw invalidArgument(field, `"${path.slice(0, 80)}" is not an absolute path`);
  if (path.split("/").includes("..")) throw invalidArgument(field, `"${path.slice(0, 80)}" contains ".."`);
}

/** Pure shape check of mounts[index]; throws INVALID_ARGUMENT naming the field. */
export function validateMountShape(m: Mount, index: number): void {
  if (!MOUNT_TYPES.has(m.type)) throw invalidArgument(`mounts[${index}].type`, `"${m.type.slice(0, 40)}" is not bind, tmpfs or proc`);
  const dest = `mounts[${index}].destination`;
  checkPath(dest, m.destination);
  if (m.destination.replace(/\/+$/, "") === "") throw invalidArgument(dest, "cannot mount over the container's /");
  if (m.type === "" || m.type === "bind") checkPath(`mounts[${index}].source`, m.source);
  m.options.forEach((o, j) => {
    // The runtime joins options with commas for mount(2): one option, one entry.
    if (o === "" || o.includes(",") || o.includes("\0")) {
      throw invalidArgument(`mounts[${index}].options[${j}]`, `"${o.slice(0, 40)}" is not a single mount option`);
    }
  });
}

/** Same as validateMountShape: the name the daemon code uses. */
export const validateMount = validateMountShape;

/** Shape plus host check: every bind source must exist now. */
export async function checkMountSources(mounts: Mount[]): Promise<void> {
  for (const [i, m] of mounts.entries()) {
    validateMountShape(m, i);
    if (m.type !== "" && m.type !== "bind") continue;
    const exists = await stat(m.source).then(() => true, () => false);
    if (!exists) throw invalidArgument(`mounts[${i}].source`, `"${m.source.slice(0, 80)}" does not exist`);
  }
}
