// Pods at hulld's start: a RunPodSandbox cut short by a crash (its record
// still "being set up") is torn down and removed, so no namespace, address
// or container of it outlives the crash; a ready pod whose pinned namespaces
// are gone (the run root is a tmpfs: the host rebooted) is stopped, which
// frees its addresses, and reported not ready, as the kubelet then
// recreates it. Every other pod is left as it was.
import type { PodRecord } from "../store/record.js";
import type { Engine } from "../engine/engine.js";
import { removePodSandbox, stopPodSandbox } from "../ops/pods/stop-remove.js";

export type PodRecoveryAction = "keep" | "remove" | "stop";

/** Pure: what a pod's record and the host's pins call for. */
export function planPodRecovery(pod: Pick<PodRecord, "state" | "stateReason" | "namespaces">, pinned: Readonly<Record<string, boolean>>): PodRecoveryAction {
  if (pod.state === "notready" && pod.stateReason === "being set up") return "remove";
  if (pod.state === "ready" && Object.values(pod.namespaces).some((file) => file !== undefined && pinned[file] !== true)) return "stop";
  return "keep";
}

export async function recoverPods(engine: Engine): Promise<{ removed: string[]; stopped: string[] }> {
  const removed: string[] = [];
  const stopped: string[] = [];
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
      }
    } catch (err) {
      engine.log.error({ err, pod: pod.id }, "recovering the pod sandbox");
    }
  }
  return { removed, stopped };
}
