// Namespaces pinned to files without a process, as CRI-O's pinns does for
// its "drop infra" pods: util-linux `unshare --net=FILE --ipc=FILE
// --uts=FILE` bind-mounts each new namespace on its (pre-created, empty)
// file, and the namespace lives as long as that mount. The command run
// inside names the UTS namespace and brings the loopback up, so a pod has a
// hostname and `lo` before any CNI plugin runs.
//
// A pod with a user namespace (the CRI's userns POD mode) gets it in the same
// unshare(2), so the pod's network, IPC and UTS namespaces are owned by it
// (its containers may then mount sysfs and mqueue, as with pinns -U). Here
// util-linux cannot pin: once unshare has entered the new user namespace it
// has no right to mount on the host. So a holder process is started in the
// new namespaces and waits; hulld writes its uid and gid maps (it may: it is
// root in the parent namespace, and needs no newuidmap), bind-mounts the
// holder's namespaces on the files, names the UTS namespace and brings `lo`
// up with nsenter from the host's user namespace, then lets the holder go.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand, spawnCommand, type RunningCommand } from "../command.js";
import { HullError } from "../errors.js";
import { isMounted } from "../images/mounts.js";
import type { IdMappings } from "../domain/spec-defaults.js";
import type { PodNamespaceKind } from "../store/record.js";
import { checkHostname } from "../validation/rules.js";

const FLAG: Record<PodNamespaceKind, string> = { net: "--net", ipc: "--ipc", uts: "--uts", user: "--user" };
/** The user namespace last: the others it owns are unpinned first. */
const KINDS: readonly PodNamespaceKind[] = ["net", "ipc", "uts", "user"];
const TIMEOUT_MS = 30_000;
const PATH_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
const READY = "pinned\n";

/** Whether path is a mount point (a pinned namespace is one). */
export const isPinned = isMounted;

function failure(what: string, r: { stderr?: unknown; stdout?: unknown; exitCode?: number }): string {
  const text = `${typeof r.stderr === "string" ? r.stderr : ""}${typeof r.stdout === "string" ? r.stdout : ""}`.trim();
  return `${what} failed: ${text || `exit ${String(r.exitCode)}`}`;
}

/**
 * The commands that name the UTS namespace and bring the loopback up, for sh
 * -c. The name is written to /proc/sys/kernel/hostname (the calling UTS
 * namespace's, as sethostname(2) sets it) by the shell itself, and `ip`
 * replaces the shell: one process start instead of three, on the pod's
 * critical path. The hostname has passed checkHostname, so it needs no quoting
 * (and the script none either: pinWithUserNamespace single-quotes it).
 */
export function setupScript(kinds: readonly PodNamespaceKind[], hostname: string): string {
  const steps = [
    ...(kinds.includes("uts") ? [`printf %s ${hostname} > /proc/sys/kernel/hostname`] : []),
    ...(kinds.includes("net") ? ["exec ip link set lo up"] : []),
  ];
  return steps.length > 0 ? steps.join(" && ") : "true";
}

export async function pinNamespaces(
  dir: string,
  kinds: readonly PodNamespaceKind[],
  hostname: string,
  userns?: IdMappings,
): Promise<Partial<Record<PodNamespaceKind, string>>> {
  if (kinds.includes("uts")) checkHostname("hostname", hostname);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const out: Partial<Record<PodNamespaceKind, string>> = {};
  if (kinds.length === 0) return out;
  for (const kind of kinds) {
    const file = join(dir, kind);
    await writeFile(file, "", { mode: 0o600 });
    out[kind] = file;
  }
  try {
    if (kinds.includes("user")) {
      if (userns === undefined) throw new HullError("INTERNAL", `pinning a user namespace in ${dir} needs its id mappings`);
      await pinWithUserNamespace(dir, kinds, hostname, userns);
    } else {
      const args = [...kinds.map((k) => `${FLAG[k]}=${join(dir, k)}`), "--", "/bin/sh", "-c", setupScript(kinds, hostname)];
      const r = await runCommand("unshare", args, { timeout: TIMEOUT_MS, env: PATH_ENV });
      if (r.exitCode !== 0) throw new HullError("INTERNAL", failure(`pinning the ${kinds.join(", ")} namespaces in ${dir}`, r));
    }
  } catch (err) {
    await releaseNamespaces(dir).catch(() => undefined);
    throw err;
  }
  return out;
}

/** Resolves once the holder has printed READY (it is in its new namespaces), rejects if it ends first. */
function holderReady(holder: RunningCommand): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    holder.child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(READY)) resolve();
    });
    void holder.result.then((r) => reject(new HullError("INTERNAL", failure("the namespace holder", r))));
  });
}

async function pinWithUserNamespace(dir: string, kinds: readonly PodNamespaceKind[], hostname: string, map: IdMappings): Promise<void> {
  // `read` keeps the holder (and so its namespaces) alive until its stdin closes.
  const holder = spawnCommand("unshare", [...kinds.map((k) => FLAG[k]), "--", "/bin/sh", "-c", `printf '${READY.trim()}\\n'; read _`], {
    timeout: TIMEOUT_MS,
    env: PATH_ENV,
    stdin: "pipe",
  });
  try {
    await holderReady(holder);
    const pid = holder.child.pid;
    if (pid === undefined) throw new HullError("INTERNAL", `the namespace holder for ${dir} has no pid`);
    // One line each: a single range starting at container id 0, as the CRI allows.
    await writeFile(`/proc/${pid}/uid_map`, `0 ${map.uid.hostId} ${map.uid.size}\n`);
    await writeFile(`/proc/${pid}/gid_map`, `0 ${map.gid.hostId} ${map.gid.size}\n`);
    const mounts = kinds.map((k) => `mount --bind /proc/${pid}/ns/${k} ${join(dir, k)}`);
    const enter = kinds.filter((k) => k === "net" || k === "uts").map((k) => (k === "net" ? "--net" : "--uts"));
    const setup = enter.length > 0 ? [`nsenter --target ${pid} ${enter.join(" ")} -- /bin/sh -c '${setupScript(kinds, hostname)}'`] : [];
    const r = await runCommand("/bin/sh", ["-c", [...mounts, ...setup].join(" && ")], { timeout: TIMEOUT_MS, env: PATH_ENV });
    if (r.exitCode !== 0) throw new HullError("INTERNAL", failure(`pinning the ${kinds.join(", ")} namespaces in ${dir}`, r));
  } finally {
    // Its stdin closed, `read` returns and the holder exits; the pins keep the namespaces.
    holder.child.stdin?.end();
    await holder.result;
  }
}

/**
 * Unmounts each pinned namespace file (and the other mounts given, such as
 * the pod's /dev/shm, first) and removes dir; a dir that is gone, or files
 * not mounted, are fine. One umount(8) for all of them: util-linux unmounts
 * its targets in order and carries on past a failure, and a target still
 * mounted afterwards is the error.
 */
export async function releaseNamespaces(dir: string, alsoUnmount: readonly string[] = []): Promise<void> {
  const targets = [...alsoUnmount, ...KINDS.map((kind) => join(dir, kind))];
  const mounted = async (): Promise<string[]> => {
    const pinned = await Promise.all(targets.map((t) => isPinned(t)));
    return targets.filter((_, i) => pinned[i] === true);
  };
  const before = await mounted();
  if (before.length > 0) {
    // MNT_DETACH: a process still inside (an exec racing the teardown) keeps its namespace or its /dev/shm; the pin goes now.
    const r = await runCommand("umount", ["--lazy", ...before], { timeout: TIMEOUT_MS });
    const left = r.exitCode === 0 ? [] : await mounted();
    if (left.length > 0) throw new HullError("INTERNAL", `unpinning ${left.join(", ")} failed: ${(r.stderr || r.stdout).trim()}`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** containerd's and CRI-O's size for a pod's /dev/shm (Docker's default too). */
const POD_SHM_SIZE = "64m";

/**
 * The pod's /dev/shm: one tmpfs its containers share, as they share its IPC
 * namespace (POSIX shared memory lives in /dev/shm, SysV's in the
 * namespace), mounted as containerd and CRI-O do for pods without host IPC.
 * Mode 1777 so container root of a user-namespaced pod may use it too.
 */
export async function mountPodShm(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o755 });
  if (await isPinned(path)) return;
  const r = await runCommand("mount", ["-t", "tmpfs", "-o", `mode=1777,size=${POD_SHM_SIZE},nosuid,nodev,noexec`, "shm", path], { timeout: TIMEOUT_MS });
  if (r.exitCode !== 0) throw new HullError("INTERNAL", failure(`mounting the pod's /dev/shm at ${path}`, r));
}

/** Idempotent: a path not mounted (or gone) is fine. */
export async function unmountPodShm(path: string): Promise<void> {
  if (!(await isPinned(path))) return;
  // Lazy for the same reason as the namespace pins: a process racing the teardown keeps its view.
  const r = await runCommand("umount", ["--lazy", path], { timeout: TIMEOUT_MS });
  if (r.exitCode !== 0 && (await isPinned(path))) throw new HullError("INTERNAL", failure(`unmounting the pod's /dev/shm at ${path}`, r));
}
