// Whether a pod's network attachment is still as RunPodSandbox's CNI ADD
// left it (CNI CHECK), for PodSandboxStatus' verbose info and hulld's start.
// Only ever reported: a failed CHECK tears nothing down (the CNI spec says
// a CHECK error means the container's networking is not as ADD made it;
// what to do about it is the kubelet's call, as with containerd and
// CRI-O). Under the pod's lock, so a concurrent stop's DEL never reads as
// a failed check.
import type { PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { HullError } from "../../errors.js";
import { networkRequest } from "./network-request.js";

export type NetworkCheckOutcome =
  | { status: "ok" }
  /** Nothing to check (host network, not ready) or the list's disableCheck. */
  | { status: "skipped"; reason: string }
  /** The network's CNI version has no CHECK. */
  | { status: "unsupported"; reason: string }
  | { status: "failed"; reason: string };

/** The outcome as one line: "ok", or "<status>: <reason>" (what `crictl inspectp` shows). */
export function networkCheckText(o: NetworkCheckOutcome): string {
  return o.status === "ok" ? "ok" : `${o.status}: ${o.reason}`;
}

/** Pure: whether a pod has an attachment to CHECK at all, or why not. */
export function networkCheckSkip(pod: Pick<PodRecord, "state" | "hostNetwork">): string | undefined {
  if (pod.hostNetwork) return "the pod is on the host's network (no CNI attachment)";
  if (pod.state !== "ready") return "the pod is not ready (its network was detached)";
  return undefined;
}

/** CHECKs the pod's attachment; every error is the outcome (the pod's id is in its reason), never thrown. */
export async function checkPodNetwork(engine: Engine, podId: string): Promise<NetworkCheckOutcome> {
  return engine.locks.with(`pod:${podId}`, async (): Promise<NetworkCheckOutcome> => {
    // Read under the lock: a stop or remove may have finished meanwhile.
    const pod = (await engine.store.listPodRecords()).find((p) => p.id === podId);
    if (pod === undefined) return { status: "skipped", reason: `pod sandbox ${podId.slice(0, 12)} was removed` };
    const skip = networkCheckSkip(pod);
    if (skip !== undefined) return { status: "skipped", reason: skip };
    const req = networkRequest(pod);
    if (req.netnsPath === "" || !(await engine.pods.pinner.isPinned(req.netnsPath)))
      return {
        status: "failed",
        reason: `pod sandbox ${pod.id.slice(0, 12)}: its network namespace ${req.netnsPath || "(none recorded)"} is no longer pinned`,
      };
    try {
      const r = await engine.pods.network.check(req);
      return r.outcome === "ok" ? { status: "ok" } : { status: "skipped", reason: r.reason };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const named = reason.includes(pod.id.slice(0, 12)) ? reason : `pod sandbox ${pod.id.slice(0, 12)}: ${reason}`;
      if (err instanceof HullError && err.reason === "NOT_IMPLEMENTED") return { status: "unsupported", reason: named };
      return { status: "failed", reason: named };
    }
  });
}
