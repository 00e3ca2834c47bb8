// What StopPodSandbox and RemovePodSandbox undo, in the reverse order of
// RunPodSandbox: the pod's containers and infra container stopped (SIGKILL at
// once, as containerd stops a sandbox's containers) while its network is
// detached (CNI DEL: the address, veth and hostport rules go), then its
// namespaces unpinned. Every step is idempotent, so a teardown cut short is finished by
// the next call.
import { join } from "node:path";
import type { PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { stopPodContainer } from "./containers.js";
import { networkRequest } from "./network-request.js";
import { forgetNetworkCheck } from "./network-check.js";
import { allSettledOrThrow } from "./settle.js";
import { podContainers } from "./query.js";
import { podShmPath } from "../../domain/pod-files.js";

export async function stopPodContainers(engine: Engine, pod: PodRecord): Promise<void> {
  const ids = await podContainers(engine, pod.id);
  // The infra container last: the others may be in its PID namespace.
  const ordered = [...ids.filter((id) => id !== pod.infraContainerId), ...ids.filter((id) => id === pod.infraContainerId)];
  for (const id of ordered) await stopPodContainer(engine, id, 0);
}

async function detachNetwork(engine: Engine, pod: PodRecord): Promise<void> {
  if (pod.hostNetwork) return;
  const req = networkRequest(pod);
  // A namespace that is gone is no namespace: the CNI spec's DEL then runs with an empty CNI_NETNS and still frees the address.
  const netnsPath = req.netnsPath !== "" && (await engine.pods.pinner.isPinned(req.netnsPath)) ? req.netnsPath : "";
  forgetNetworkCheck(engine, pod.id);
  await engine.pods.network.tearDown({ ...req, netnsPath });
}

/**
 * The containers' stop and the CNI DEL side by side: the DEL works on the
 * pinned namespace file, which outlives every process of the pod, so it
 * need not wait for them to die (each side is a chain of process starts:
 * runc kill and delete; portmap, bridge and host-local). Both are settled
 * before the namespaces are unpinned, and a failure of either fails the
 * teardown, which the next call finishes.
 */
export async function tearDownPod(engine: Engine, pod: PodRecord): Promise<void> {
  await allSettledOrThrow<[void, void]>(engine, pod.id, "tearing down the pod", [stopPodContainers(engine, pod), detachNetwork(engine, pod)]);
  await engine.pods.pinner.release(join(engine.paths.podNamespacesDir, pod.id), [podShmPath(pod)]);
}
