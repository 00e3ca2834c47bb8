// StopPodSandbox and RemovePodSandbox, with the CRI's semantics: both are
// idempotent (an unknown or already stopped/removed pod is OK, the
// kubelet retries them), stop reclaims the network and namespaces, remove
// also removes every container of the pod and its files.
import { rm } from "node:fs/promises";
import type { PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { wrapError } from "../../errors.js";
import { removeContainer } from "../remove.js";
import { findPod, podContainers } from "./query.js";
import { tearDownPod } from "./teardown.js";

async function underLock<T>(engine: Engine, ref: string, fn: (pod: PodRecord) => Promise<T>): Promise<T | undefined> {
  const found = await findPod(engine, ref);
  if (found === undefined) return undefined;
  return engine.locks.with(`pod:${found.id}`, async () => {
    // Read again under the lock: a concurrent remove may have finished meanwhile.
    const pod = (await engine.store.listPodRecords()).find((p) => p.id === found.id);
    return pod === undefined ? undefined : fn(pod);
  });
}

/** reason: why it is not ready now, when that is not the caller's stop (recovery's). */
export async function stopPodSandbox(engine: Engine, ref: string, reason = ""): Promise<void> {
  await underLock(engine, ref, async (pod) => {
    try {
      await tearDownPod(engine, pod);
    } catch (err) {
      throw wrapError(err, pod.id, "stop", "pod sandbox");
    }
    await engine.store.writePodRecord({ ...pod, state: "notready", stateReason: reason, namespaces: {} });
    engine.log.info({ pod: pod.id }, "pod sandbox stopped");
  });
}

export async function removePodSandbox(engine: Engine, ref: string): Promise<void> {
  await underLock(engine, ref, async (pod) => {
    try {
      await tearDownPod(engine, pod);
      for (const id of await podContainers(engine, pod.id)) await removeContainer(engine, id, true, 0);
      await rm(pod.dir, { recursive: true, force: true });
    } catch (err) {
      throw wrapError(err, pod.id, "remove", "pod sandbox");
    }
    await engine.store.writePodRecord(pod, true);
    engine.log.info({ pod: pod.id }, "pod sandbox removed");
  });
}
