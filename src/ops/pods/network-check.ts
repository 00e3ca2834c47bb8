// Whether a pod's network attachment is still as RunPodSandbox's CNI ADD
// left it (CNI CHECK), for PodSandboxStatus' verbose info and hulld's start.
// An outcome that is not a failure stands for CHECK_REUSE_MS: a verbose
// status asked within that time of the last CHECK, or of the ADD itself
// (its success is the attachment as ADD left it), reports it with its time
// instead of starting the plugins again (bridge, host-local and portmap
// are ~30-60 ms of process starts; critest's benchmark asks a verbose
// status right after each RunPodSandbox; containerd and CRI-O run no CHECK
// there at all). A failure is never reused, and hulld's start always runs
// a fresh CHECK.
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

/** How long an outcome that is not a failure is reported without a new CHECK. */
export const CHECK_REUSE_MS = 1000;

export type CheckedOutcome = NetworkCheckOutcome & {
  /** When the plugins gave this outcome (ms since the epoch); absent when none ran (host network, not ready). */
  at?: number;
  /** Which command gave it: RunPodSandbox's CNI ADD, or a CHECK. */
  by?: "ADD" | "CHECK";
};

/** Per engine (a test may run several), per pod: the last outcome that was not a failure. */
const lastOutcomes = new WeakMap<Engine, Map<string, CheckedOutcome>>();

function outcomesOf(engine: Engine): Map<string, CheckedOutcome> {
  let m = lastOutcomes.get(engine);
  if (m === undefined) lastOutcomes.set(engine, (m = new Map()));
  return m;
}

/** RunPodSandbox's CNI ADD succeeded: the attachment is as ADD left it now. */
export function recordNetworkAttached(engine: Engine, podId: string): void {
  outcomesOf(engine).set(podId, { status: "ok", at: Date.now(), by: "ADD" });
}

/** The pod's network was detached (stop, remove): nothing of it may be reused. */
export function forgetNetworkCheck(engine: Engine, podId: string): void {
  outcomesOf(engine).delete(podId);
}

/** Pure: whether a kept outcome may stand for a new CHECK at now. */
export function reusable(kept: CheckedOutcome | undefined, now: number, maxAgeMs: number): kept is CheckedOutcome {
  if (kept === undefined || kept.at === undefined || kept.status === "failed") return false;
  const age = now - kept.at;
  return age >= 0 && age < maxAgeMs;
}

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

/**
 * CHECKs the pod's attachment, or reports the outcome kept from less than
 * maxAgeMs ago (0: always CHECK); every error is the outcome (the pod's id
 * is in its reason), never thrown.
 */
export async function checkPodNetwork(engine: Engine, podId: string, maxAgeMs = 0): Promise<CheckedOutcome> {
  return engine.locks.with(`pod:${podId}`, async (): Promise<CheckedOutcome> => {
    const at = Date.now();
    // Read under the lock: a stop or remove may have finished meanwhile.
    const pod = (await engine.store.listPodRecords()).find((p) => p.id === podId);
    if (pod === undefined) return { status: "skipped", reason: `pod sandbox ${podId.slice(0, 12)} was removed` };
    const skip = networkCheckSkip(pod);
    if (skip !== undefined) return { status: "skipped", reason: skip };
    const kept = outcomesOf(engine).get(podId);
    if (reusable(kept, at, maxAgeMs)) return kept;
    const outcome: CheckedOutcome = { ...(await runCheck(engine, pod)), at, by: "CHECK" };
    if (outcome.status === "failed") outcomesOf(engine).delete(podId);
    else outcomesOf(engine).set(podId, outcome);
    return outcome;
  });
}

async function runCheck(engine: Engine, pod: PodRecord): Promise<NetworkCheckOutcome> {
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
}
