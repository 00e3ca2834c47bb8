// A pod environment for engines that never run pods (unit tests over the
// fake runtime): its network is not configured, and pinning says so.
import type { PodEnvironment } from "../../src/network/pod-env.js";
import { HullError } from "../../src/errors.js";

export function noPodEnvironment(): PodEnvironment {
  const refuse = async (): Promise<never> => {
    throw new HullError("UNAVAILABLE", "this test engine has no pod environment");
  };
  return {
    network: {
      status: async () => ({ ready: false, reason: "NetworkPluginNotReady", message: "no network in this test engine" }),
      setUp: refuse,
      tearDown: refuse,
      check: refuse,
    },
    pinner: { pin: refuse, release: refuse, isPinned: async () => false, mountShm: refuse, unmountShm: refuse },
    pauseImage: "registry.k8s.io/pause:3.10",
    podCidr: "",
  };
}
