// The infra container of a pod whose containers share one PID namespace: the
// configured pause image (the kubelet's default registry.k8s.io/pause:3.10),
// pulled through the registries config when it is missing, in the pod's
// pinned namespaces with a PID namespace of its own for the others to join.
// Pods that do not share a PID namespace have none (CRI-O's drop-infra).
import type { PodSandboxConfig } from "../../gen/runtime/v1/api.js";
import { ContainerConfig, Resources } from "../../gen/hull/v1/container.js";
import type { PodRecord } from "../../store/record.js";
import type { Engine } from "../../engine/engine.js";
import { findImage, pullImage } from "../images.js";
import { startContainer } from "../start.js";
import { createPodContainer } from "./container.js";
import { toPodSecurity } from "./security.js";

/** containerd's oom_score_adj for sandboxes: the last process the OOM killer picks (clamped where it may not be lowered). */
const INFRA_OOM_SCORE_ADJ = -998;

async function ensurePauseImage(engine: Engine): Promise<void> {
  const image = engine.pods.pauseImage;
  if (findImage(engine, image) !== undefined) return;
  const pulled = new AbortController();
  await pullImage(engine, { reference: image, username: "", password: "", insecure: false }, pulled.signal, () => undefined);
}

export async function startInfraContainer(engine: Engine, pod: PodRecord, config: PodSandboxConfig): Promise<string> {
  await ensurePauseImage(engine);
  const sc = config.linux?.securityContext;
  const own = ContainerConfig.fromPartial({
    image: engine.pods.pauseImage,
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    resources: Resources.fromPartial({ oomScoreAdj: INFRA_OOM_SCORE_ADJ }),
    readOnlyRootfs: sc?.readonlyRootfs ?? false,
    security: toPodSecurity(sc),
    user: sc?.runAsUser !== undefined ? `${sc.runAsUser.value}${sc.runAsGroup !== undefined ? `:${sc.runAsGroup.value}` : ""}` : "",
  });
  const rec = await createPodContainer(engine, pod, { config: own, pid: { mode: "container" }, logPath: "", name: "POD", attempt: pod.attempt, infra: true });
  await startContainer(engine, rec.id, false);
  return rec.id;
}
