// runtime.v1 pod sandbox RPCs: decode, validate, one operation, encode.
import type {
  ListPodSandboxRequest,
  ListPodSandboxResponse,
  PodSandboxStatusRequest,
  PodSandboxStatusResponse,
  RemovePodSandboxRequest,
  RemovePodSandboxResponse,
  RunPodSandboxRequest,
  RunPodSandboxResponse,
  RuntimeServiceServer,
  StopPodSandboxRequest,
  StopPodSandboxResponse,
} from "../../gen/runtime/v1/api.js";
import { PodSandboxConfig, PodSandboxState } from "../../gen/runtime/v1/api.js";
import type { Engine } from "../../engine/engine.js";
import { runPodSandbox } from "../../ops/pods/run.js";
import { removePodSandbox, stopPodSandbox } from "../../ops/pods/stop-remove.js";
import { listPods, podVerboseInfo, resolvePod } from "../../ops/pods/query.js";
import { validateListPodSandbox, validatePodId, validateRunPodSandbox } from "../../validation/cri/runtime-requests.js";
import type { RpcWrapper } from "../rpc.js";
import { toCriPod, toCriPodStatus } from "./convert.js";

type PodHandlers = Pick<RuntimeServiceServer, "runPodSandbox" | "stopPodSandbox" | "removePodSandbox" | "podSandboxStatus" | "listPodSandbox">;

export function criPodHandlers(engine: Engine, rpc: RpcWrapper): PodHandlers {
  return {
    runPodSandbox: rpc.unary<RunPodSandboxRequest, RunPodSandboxResponse>("RunPodSandbox", async (req) => {
      validateRunPodSandbox(req);
      const pod = await runPodSandbox(engine, req.config ?? PodSandboxConfig.fromPartial({}), req.runtimeHandler);
      return { podSandboxId: pod.id };
    }),
    stopPodSandbox: rpc.unary<StopPodSandboxRequest, StopPodSandboxResponse>("StopPodSandbox", async (req) => {
      validatePodId(req);
      await stopPodSandbox(engine, req.podSandboxId);
      return {};
    }),
    removePodSandbox: rpc.unary<RemovePodSandboxRequest, RemovePodSandboxResponse>("RemovePodSandbox", async (req) => {
      validatePodId(req);
      await removePodSandbox(engine, req.podSandboxId);
      return {};
    }),
    podSandboxStatus: rpc.unary<PodSandboxStatusRequest, PodSandboxStatusResponse>("PodSandboxStatus", async (req) => {
      validatePodId(req);
      const pod = await resolvePod(engine, req.podSandboxId);
      const info = req.verbose ? await podVerboseInfo(engine, pod) : {};
      return { status: toCriPodStatus(pod), info, containersStatuses: [], timestamp: 0n };
    }),
    listPodSandbox: rpc.unary<ListPodSandboxRequest, ListPodSandboxResponse>("ListPodSandbox", async (req) => {
      validateListPodSandbox(req);
      const f = req.filter;
      const state = f?.state === undefined ? undefined : f.state.state === PodSandboxState.SANDBOX_READY ? "ready" : "notready";
      const pods = await listPods(engine, { id: f?.id ?? "", state, labels: f?.labelSelector ?? {} }, (p) => toCriPod(p).labels);
      return { items: pods.map((p) => toCriPod(p)) };
    }),
  };
}
