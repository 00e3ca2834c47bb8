// What the CRI's streaming RPCs check before they issue a URL, and again
// when the URL is used: for Exec and Attach, the container (resolved, synced,
// in a state the table allows the verb in); for PortForward, which network
// namespace the pod's ports are in: a ready pod's pinned one, or the host's
// for a host-network pod. A stopped pod has no network left to forward into
// (the kubelet only forwards to running pods): a state error naming it.
import { HullError } from "../../errors.js";
import type { PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { checkOperation } from "../../statemachine/states.js";
import { resolvePod } from "./query.js";

/** The container's full id, once the state table allows op (exec: running; attach: created, running or paused...). */
export async function checkStreamingContainer(engine: Engine, ref: string, op: "exec" | "attach"): Promise<string> {
  return engine.locked(ref, op, async (rec) => {
    checkOperation(rec.id, rec.state, op);
    return rec.id;
  });
}

export interface PortForwardNamespace {
  podId: string;
  /** The pinned network namespace; undefined: the host's. */
  netns?: string;
}

export function podPortNamespace(pod: PodRecord): PortForwardNamespace {
  if (pod.state !== "ready") {
    throw new HullError(
      "CONTAINER_STATE_INVALID",
      `cannot forward ports of pod sandbox ${pod.id.slice(0, 12)}: it is not ready (${pod.stateReason || "stopped"})`,
      {
        pod: pod.id,
        operation: "port forward",
      },
    );
  }
  if (pod.hostNetwork) return { podId: pod.id };
  const netns = pod.namespaces.net;
  if (netns === undefined) {
    throw new HullError("CONTAINER_STATE_INVALID", `cannot forward ports of pod sandbox ${pod.id.slice(0, 12)}: it has no network namespace`, {
      pod: pod.id,
      operation: "port forward",
    });
  }
  return { podId: pod.id, netns };
}

export async function portForwardNamespace(engine: Engine, ref: string): Promise<PortForwardNamespace> {
  return podPortNamespace(await resolvePod(engine, ref));
}
