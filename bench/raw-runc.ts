// Bare OCI runtime runs of `true` with the spec hull itself generates: the
// reference the lifecycle benchmarks (lifecycle.ts, cri-run.ts) measure
// against, in the same run.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { timed } from "./measure.js";
import { ContainerConfig } from "../src/gen/hull/v1/container.js";
import { generateSpec } from "../src/oci/spec.js";
import type { readHostLimits } from "../src/oci/hostinfo.js";
import { writeBundle } from "../src/oci/bundle.js";

const run = promisify(execFile);

/** The cgroup parent of the bare runs (removed afterwards by removeCgroupParents). */
export const CGROUP_PARENT = "hull-bench";

export function trueConfig(rootfs: string, name = ""): ContainerConfig {
  return ContainerConfig.fromPartial({ name, rootfsPath: rootfs, command: ["true"] });
}

export interface RuncEnv {
  runcRoot: string;
  bundle: string;
  rootfs: string;
  hostLimits: Awaited<ReturnType<typeof readHostLimits>>;
}

/** Writes the bundle hull would write for a container of `true` (before any clock starts). */
export async function writeTrueBundle(env: RuncEnv, id: string): Promise<void> {
  const spec = generateSpec({
    id,
    config: trueConfig(env.rootfs),
    rootfs: env.rootfs,
    user: { uid: 0, gid: 0, additionalGids: [], home: "/root" },
    hostLimits: env.hostLimits,
    cgroupsPath: `/${CGROUP_PARENT}/${id}`,
  });
  await writeBundle(env.bundle, spec);
}

/** One `<runtime> run` of the spec hull would write. */
export async function runtimeRun(env: RuncEnv, bin: string, i: number): Promise<number> {
  const id = `hb-${process.pid}-${i}`;
  await writeTrueBundle(env, id);
  return timed(() => run(bin, ["--root", env.runcRoot, "run", "-b", env.bundle, id]));
}

/** Whether a runtime runs a container here; the runtime's own words when it does not. */
export async function probeRuntime(env: RuncEnv, bin: string): Promise<string | undefined> {
  try {
    await runtimeRun(env, bin, -100);
    return undefined;
  } catch (err) {
    const e = err as { stderr?: unknown; message?: unknown };
    const text = typeof e.stderr === "string" && e.stderr.trim() !== "" ? e.stderr.trim() : String(e.message);
    await run(bin, ["--root", env.runcRoot, "delete", "--force", `hb-${process.pid}--100`]).catch(() => undefined);
    return text;
  }
}

/** runc removes each container's cgroup, not the parent we named; leave no trace. */
export async function removeCgroupParents(): Promise<void> {
  const base = "/sys/fs/cgroup";
  const controllers = await readdir(base).catch(() => [] as string[]);
  for (const dir of [base, ...controllers.map((c) => join(base, c))]) {
    await rmdir(join(dir, CGROUP_PARENT)).catch(() => undefined);
  }
}
