// An OCI bundle on disk: a private dir holding config.json (the rootfs lives
// elsewhere; the spec names it by absolute path).
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { OciSpec } from "./spec.js";

/**
 * Writes bundleDir/config.json. Temp file + rename: a crash mid-write must
 * never leave a truncated config that a later create would feed to runc.
 */
export async function writeBundle(bundleDir: string, spec: OciSpec): Promise<void> {
  await mkdir(bundleDir, { recursive: true, mode: 0o700 });
  // mkdir's mode only applies to dirs it creates: a reused dir is tightened too.
  await chmod(bundleDir, 0o700);
  const final = join(bundleDir, "config.json");
  const tmp = join(bundleDir, `.config.json.${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(tmp, JSON.stringify(spec, null, 2), { mode: 0o600, flush: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function removeBundle(bundleDir: string): Promise<void> {
  await rm(bundleDir, { recursive: true, force: true });
}
