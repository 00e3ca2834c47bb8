// The host side of hull's pods, assembled: CNI for the network, pinned
// namespace files for net/IPC/UTS, the pause image for infra containers.
import { join } from "node:path";
import type { PodEnvironment } from "./pod-env.js";
import { CniNetwork } from "./cni.js";
import { isPinned, mountPodShm, pinNamespaces, releaseNamespaces, unmountPodShm } from "./netns.js";

export const DEFAULT_CNI_CONFIG_DIR = "/etc/cni/net.d";
/** Debian's containernetworking-plugins first, then the upstream tarball's place. */
export const DEFAULT_CNI_PLUGIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];
/** The kubelet's default sandbox image (Kubernetes 1.32). */
export const DEFAULT_PAUSE_IMAGE = "registry.k8s.io/pause:3.10";

export interface PodEnvironmentOptions {
  root: string;
  cniConfigDir?: string;
  cniPluginDirs?: string[];
  pauseImage?: string;
}

export function hostPodEnvironment(o: PodEnvironmentOptions): PodEnvironment {
  return {
    network: new CniNetwork({
      configDir: o.cniConfigDir ?? DEFAULT_CNI_CONFIG_DIR,
      pluginDirs: o.cniPluginDirs ?? DEFAULT_CNI_PLUGIN_DIRS,
      cacheDir: join(o.root, "cni", "results"),
    }),
    pinner: { pin: pinNamespaces, release: releaseNamespaces, isPinned, mountShm: mountPodShm, unmountShm: unmountPodShm },
    pauseImage: o.pauseImage ?? DEFAULT_PAUSE_IMAGE,
    podCidr: "",
  };
}
