// Namespaces pinned to files without a process, as CRI-O's pinns does for
// its "drop infra" pods: util-linux `unshare --net=FILE --ipc=FILE
// --uts=FILE` bind-mounts each new namespace on its (pre-created, empty)
// file, and the namespace lives as long as that mount. The command run
// inside names the UTS namespace and brings the loopback up, so a pod has a
// hostname and `lo` before any CNI plugin runs.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { HullError } from "../errors.js";
import type { PodNamespaceKind } from "../store/record.js";
import { checkHostname } from "../validation/rules.js";

const FLAG: Record<PodNamespaceKind, string> = { net: "--net", ipc: "--ipc", uts: "--uts" };
const KINDS: readonly PodNamespaceKind[] = ["net", "ipc", "uts"];
const TIMEOUT_MS = 30_000;

/** Whether path is a mount point (a pinned namespace is one), from /proc/self/mountinfo. */
export async function isPinned(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info.split("\n").some((line) => line.split(" ")[4] === path);
}

export async function pinNamespaces(dir: string, kinds: readonly PodNamespaceKind[], hostname: string): Promise<Partial<Record<PodNamespaceKind, string>>> {
  if (kinds.includes("uts")) checkHostname("hostname", hostname);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const out: Partial<Record<PodNamespaceKind, string>> = {};
  if (kinds.length === 0) return out;
  for (const kind of kinds) {
    const file = join(dir, kind);
    await writeFile(file, "", { mode: 0o600 });
    out[kind] = file;
  }
  // Inside: the UTS namespace gets the pod's name, the network namespace its loopback.
  const inside = [...(kinds.includes("uts") ? [`hostname ${hostname}`] : []), ...(kinds.includes("net") ? ["ip link set lo up"] : []), "true"].join(" && ");
  const args = [...kinds.map((k) => `${FLAG[k]}=${join(dir, k)}`), "--", "/bin/sh", "-c", inside];
  const r = await execa("unshare", args, { reject: false, timeout: TIMEOUT_MS, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  if (r.exitCode !== 0) {
    await releaseNamespaces(dir).catch(() => undefined);
    throw new HullError(
      "INTERNAL",
      `pinning the ${kinds.join(", ")} namespaces in ${dir} failed: ${(r.stderr || r.stdout || `exit ${String(r.exitCode)}`).trim()}`,
    );
  }
  return out;
}

/** Unmounts each pinned namespace file and removes dir; a dir that is gone, or files not mounted, are fine. */
export async function releaseNamespaces(dir: string): Promise<void> {
  for (const kind of KINDS) {
    const file = join(dir, kind);
    if (!(await isPinned(file))) continue;
    // MNT_DETACH: a process still inside (an exec racing the teardown) keeps its namespace; the pin goes now.
    const r = await execa("umount", ["--lazy", file], { reject: false, timeout: TIMEOUT_MS });
    if (r.exitCode !== 0 && (await isPinned(file))) throw new HullError("INTERNAL", `unpinning namespace ${file} failed: ${(r.stderr || r.stdout).trim()}`);
  }
  await rm(dir, { recursive: true, force: true });
}
