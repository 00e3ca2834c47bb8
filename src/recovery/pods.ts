// Pods at hulld's start: a RunPodSandbox cut short by a crash (its record
// still "being set up") is torn down and removed, so no namespace, address
// or container of it outlives the crash; a ready pod whose pinned namespaces
// are gone (the run root is a tmpfs: the host rebooted) is stopped, which
// frees its addresses, and reported not ready, as the kubelet then
// recreates it. A ready pod on a CNI network whose pins are all there is
// kept and its attachment CHECKed (CNI CHECK: a host reboot, an admin or
// another agent may have changed it while hulld was down); a failure is a
// warning with the reason and nothing more, as the kubelet decides what a
// broken pod network calls for. Every other pod is left as it was.
import type { PodRecord } from "../store/record.js";
import type { Engine } from "../engine/engine.js";
import { removePodSandbox, stopPodSandbox } from "../ops/pods/stop-remove.js";
import { checkPodNetwork } from "../ops/pods/network-check.js";

export type PodRecoveryAction = "keep" | "remove" | "stop" | "check";

/** Pure: what a pod's record and the host's pins call for. */
export function planPodRecovery(
  pod: Pick<PodRecord, "state" | "stateReason" | "namespaces" | "hostNetwork">,
  pinned: Readonly<Record<string, boolean>>,
): PodRecoveryAction {
  if (pod.state === "notready" && pod.stateReason === "being set up") return "remove";
  if (pod.state === "ready" && Object.values(pod.namespaces).some((file) => file !== undefined && pinned[file] !== true)) return "stop";
  if (pod.state === "ready" && !pod.hostNetwork) return "check";
  return "keep";
}

/** Pods removed or stopped, and those kept whose network checkRecoveredPods is to CHECK. */
export async function recoverPods(engine: Engine): Promise<{ removed: string[]; stopped: string[]; toCheck: string[] }> {
  const removed: string[] = [];
  const stopped: string[] = [];
  const toCheck: string[] = [];
  for (const pod of await engine.store.listPodRecords()) {
    const pinned: Record<string, boolean> = {};
    for (const file of Object.values(pod.namespaces)) if (file !== undefined) pinned[file] = await engine.pods.pinner.isPinned(file);
    const action = planPodRecovery(pod, pinned);
    try {
      if (action === "remove") {
        engine.log.warn({ pod: pod.id }, "removing a pod sandbox whose setup a hulld restart cut short");
        await removePodSandbox(engine, pod.id);
        removed.push(pod.id);
      } else if (action === "stop") {
        engine.log.warn({ pod: pod.id }, "stopping a pod sandbox whose namespaces are gone (the host restarted?)");
        await stopPodSandbox(engine, pod.id, "its namespaces were lost while hulld was down");
        stopped.push(pod.id);
      } else if (action === "check") toCheck.push(pod.id);
    } catch (err) {
      engine.log.error({ err, pod: pod.id }, "recovering the pod sandbox");
    }
  }
  return { removed, stopped, toCheck };
}

/**
 * CNI CHECK of each pod recovery kept on a CNI network, one at a time;
 * stops early once stopping() says hulld is shutting down. Logs and tears
 * nothing down: a failure is a warning naming the pod and the reason.
 */
export async function checkRecoveredPods(engine: Engine, ids: readonly string[], stopping: () => boolean): Promise<void> {
  for (const id of ids) {
    if (stopping()) return;
    const o = await checkPodNetwork(engine, id);
    if (o.status === "failed")
      engine.log.warn({ pod: id, reason: o.reason }, "a pod's CNI CHECK failed after a hulld restart: its network is not as ADD left it");
    else if (o.status === "unsupported") engine.log.info({ pod: id, reason: o.reason }, "no CNI CHECK of the pod's network");
    else engine.log.debug({ pod: id, outcome: o.status, ...(o.status === "skipped" ? { reason: o.reason } : {}) }, "pod network CHECKed");
  }
}
