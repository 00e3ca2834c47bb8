// Pod lookups: by full id or unique id prefix (as crictl lets users type
// them), the list with the CRI's filters, and a pod's verbose status info.
import type { PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { HullError } from "../../errors.js";
import { CHECK_REUSE_MS, checkPodNetwork, networkCheckText } from "./network-check.js";

export function podNotFound(ref: string): HullError {
  return new HullError("POD_NOT_FOUND", `no pod sandbox with id "${ref}" found`, { pod: ref });
}

/** The pod ref names, or undefined: a full id or a unique prefix. */
export async function findPod(engine: Engine, ref: string): Promise<PodRecord | undefined> {
  if (ref === "") return undefined;
  const pods = await engine.store.listPodRecords();
  const exact = pods.find((p) => p.id === ref);
  if (exact) return exact;
  const matches = pods.filter((p) => p.id.startsWith(ref));
  if (matches.length > 1)
    throw new HullError("AMBIGUOUS_ID", `prefix "${ref}" matches several pod sandboxes: ${matches.map((m) => m.id.slice(0, 12)).join(", ")}`);
  return matches[0];
}

export async function resolvePod(engine: Engine, ref: string): Promise<PodRecord> {
  const pod = await findPod(engine, ref);
  if (pod === undefined) throw podNotFound(ref);
  return pod;
}

export interface PodFilter {
  id: string;
  state?: "ready" | "notready";
  labels: Record<string, string>;
}

export async function listPods(engine: Engine, filter: PodFilter, labelsOf: (p: PodRecord) => Record<string, string>): Promise<PodRecord[]> {
  const pods = await engine.store.listPodRecords();
  return pods
    .filter((p) => filter.id === "" || p.id.startsWith(filter.id))
    .filter((p) => filter.state === undefined || p.state === filter.state)
    .filter((p) => {
      const labels = labelsOf(p);
      return Object.entries(filter.labels).every(([k, v]) => labels[k] === v);
    })
    .sort((a, b) => (BigInt(a.createdAtNs) < BigInt(b.createdAtNs) ? -1 : 1));
}

/** The containers of a pod (its infra container included), from the store. */
export async function podContainers(engine: Engine, podId: string): Promise<string[]> {
  return (await engine.store.listContainers()).filter((c) => c.config.pod?.id === podId).map((c) => c.id);
}

/**
 * PodSandboxStatus' verbose info (what `crictl inspectp` prints): the
 * record, its containers, and a CNI CHECK's outcome with when and by what
 * it was seen (networkCheckedAt, networkCheckedBy: ADD or CHECK), reused
 * for CHECK_REUSE_MS unless it failed. Verbose only: CHECK runs plugins,
 * and the kubelet polls the plain status.
 */
export async function podVerboseInfo(engine: Engine, pod: PodRecord): Promise<Record<string, string>> {
  const checked = await checkPodNetwork(engine, pod.id, CHECK_REUSE_MS);
  const seen = checked.at !== undefined ? { networkCheckedAt: new Date(checked.at).toISOString(), networkCheckedBy: checked.by } : {};
  const info = { ...pod, config: undefined, containers: await podContainers(engine, pod.id), networkCheck: networkCheckText(checked), ...seen };
  return { info: JSON.stringify(info) };
}
