// What the CRI's Status and RuntimeConfig report: whether the runtime and
// the pod network are ready (and why not), the features this host supports
// (recursive read-only mounts where runc has "rro" and the kernel has
// mount_setattr, 5.12+; the supplemental groups policy, which hull applies
// itself), and the facts behind them in the verbose info.
import { access, readFile } from "node:fs/promises";
import { release } from "node:os";
import type { Engine } from "../engine/engine.js";
import { invalidArgument } from "../errors.js";

export interface RuntimeInfo {
  runtimeReady: { ready: boolean; reason: string; message: string };
  networkReady: { ready: boolean; reason: string; message: string };
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
  supplementalGroupsPolicy: boolean;
  /** Facts for the verbose info, as strings. */
  facts: Record<string, string>;
}

/** mount_setattr(2), which runc's "rro" needs, came with Linux 5.12. */
export function kernelHasMountSetattr(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 12);
}

let usernsProbe: Promise<{ supported: boolean; reason: string }> | undefined;

/**
 * Whether pods may have user namespaces of their own: the kernel has them
 * (/proc/self/ns/user) and lets new ones be made (user.max_user_namespaces
 * above 0). hulld writes the maps itself, so no newuidmap is needed. Probed
 * once per hulld.
 */
export function userNamespacesSupport(): Promise<{ supported: boolean; reason: string }> {
  usernsProbe ??= (async () => {
    const exists = await access("/proc/self/ns/user").then(
      () => true,
      () => false,
    );
    if (!exists) return { supported: false, reason: "the kernel has no user namespaces (no /proc/self/ns/user)" };
    const max = Number((await readFile("/proc/sys/user/max_user_namespaces", "utf8").catch(() => "0")).trim());
    if (!(max > 0)) return { supported: false, reason: `user.max_user_namespaces is ${max}: the kernel allows none` };
    return { supported: true, reason: "" };
  })();
  return usernsProbe;
}

export async function runtimeInfo(engine: Engine): Promise<RuntimeInfo> {
  const [options, network, userns] = await Promise.all([engine.runtime.mountOptions(), engine.pods.network.status(), userNamespacesSupport()]);
  const rro = options.includes("rro") && kernelHasMountSetattr(release());
  const floor = engine.hostLimits.oomScoreAdjFloor;
  const facts: Record<string, string> = {
    runtime: engine.runtime.name,
    pauseImage: engine.pods.pauseImage,
    kernel: release(),
    recursiveReadOnlyMounts: rro ? "supported (runc rro, mount_setattr)" : `not supported (runtime rro: ${options.includes("rro")}, kernel ${release()})`,
    oomScoreAdj:
      floor === undefined
        ? "hulld may set any oom_score_adj (it holds CAP_SYS_RESOURCE)"
        : `hulld lacks CAP_SYS_RESOURCE and runs at oom_score_adj ${floor}: a container asking for less gets ${floor} (the kernel refuses to lower it)`,
    apparmor: "not applied: this host has no AppArmor (profiles in requests are ignored)",
    selinux: "not applied: this host has no SELinux (options in requests are ignored)",
    podCidr: engine.pods.podCidr,
    userNamespaces: userns.supported
      ? "supported: a pod's own (POD mode) is pinned with its other namespaces and mapped by hulld; images are copied with shifted ids (no idmapped mounts: util-linux 2.38)"
      : `not supported: ${userns.reason}`,
    // Where container state lives (critest reads it, as containerd's, to probe idmapped mounts on that filesystem).
    stateDir: engine.paths.root,
  };
  return {
    runtimeReady: { ready: true, reason: "", message: "" },
    networkReady: network,
    recursiveReadOnlyMounts: rro,
    userNamespaces: userns.supported,
    supplementalGroupsPolicy: true,
    facts,
  };
}

const CIDR = /^(?:\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/;

/**
 * UpdateRuntimeConfig: the kubelet's pod CIDR. hull writes no CNI config from
 * it (the network config is the administrator's, in --cni-config-dir); it is
 * kept and reported in Status' info, as CRI-O keeps it.
 */
export function updateRuntimeConfig(engine: Engine, podCidr: string): void {
  for (const part of podCidr.split(",").filter((p) => p !== "")) {
    if (!CIDR.test(part.trim())) throw invalidArgument("runtime_config.network_config.pod_cidr", `"${part.slice(0, 60)}" is not a CIDR`);
  }
  engine.pods.podCidr = podCidr;
  engine.log.info({ podCidr }, "pod CIDR updated by the kubelet");
}
