// runtime.v1 container RPCs: decode, validate, one operation, encode.
import type {
  ContainerStatusRequest,
  ContainerStatusResponse,
  CreateContainerRequest,
  CreateContainerResponse,
  ExecSyncRequest,
  ExecSyncResponse,
  ListContainersRequest,
  ListContainersResponse,
  RemoveContainerRequest,
  RemoveContainerResponse,
  ReopenContainerLogRequest,
  ReopenContainerLogResponse,
  RuntimeServiceServer,
  StartContainerRequest,
  StartContainerResponse,
  StopContainerRequest,
  StopContainerResponse,
  UpdateContainerResourcesRequest,
  UpdateContainerResourcesResponse,
} from "../../gen/runtime/v1/api.js";
import { ContainerConfig as CriContainerConfig } from "../../gen/runtime/v1/api.js";
import { Resources } from "../../gen/hull/v1/container.js";
import type { Engine } from "../../engine/engine.js";
import { createPodContainer } from "../../ops/pods/container.js";
import { listPodContainers, removePodContainer, stopPodContainer } from "../../ops/pods/containers.js";
import { findPod } from "../../ops/pods/query.js";
import { startContainer } from "../../ops/start.js";
import { inspectContainer } from "../../ops/inspect.js";
import { execSyncContainer } from "../../ops/exec-sync.js";
import { updateContainer } from "../../ops/update.js";
import { reopenContainerLog } from "../../ops/reopen-log.js";
import {
  validateContainerId,
  validateCreateContainer,
  validateCriExecSync,
  validateListContainers,
  validateStopContainer,
  validateUpdateResources,
} from "../../validation/cri/runtime-requests.js";
import type { RpcWrapper } from "../rpc.js";
import { criState, toCriContainer, toCriContainerStatus } from "./convert.js";
import { criToHullConfig, toResources } from "./container-config.js";

type ContainerHandlers = Pick<
  RuntimeServiceServer,
  | "createContainer"
  | "startContainer"
  | "stopContainer"
  | "removeContainer"
  | "listContainers"
  | "containerStatus"
  | "updateContainerResources"
  | "reopenContainerLog"
  | "execSync"
>;

export function criContainerHandlers(engine: Engine, rpc: RpcWrapper): ContainerHandlers {
  return {
    createContainer: rpc.unary<CreateContainerRequest, CreateContainerResponse>("CreateContainer", async (req) => {
      validateCreateContainer(req);
      const c = req.config ?? CriContainerConfig.fromPartial({});
      const own = criToHullConfig(c);
      const rec = await createPodContainer(engine, req.podSandboxId, {
        config: own.config,
        pid: own.pid,
        ...(own.userns !== undefined ? { userns: own.userns } : {}),
        logPath: own.logPath,
        name: c.metadata?.name ?? "",
        attempt: c.metadata?.attempt ?? 0,
      });
      return { containerId: rec.id };
    }),
    startContainer: rpc.unary<StartContainerRequest, StartContainerResponse>("StartContainer", async (req) => {
      validateContainerId(req);
      await startContainer(engine, req.containerId, false);
      return {};
    }),
    stopContainer: rpc.unary<StopContainerRequest, StopContainerResponse>("StopContainer", async (req) => {
      validateStopContainer(req);
      await stopPodContainer(engine, req.containerId, Number(req.timeout));
      return {};
    }),
    removeContainer: rpc.unary<RemoveContainerRequest, RemoveContainerResponse>("RemoveContainer", async (req) => {
      validateContainerId(req);
      await removePodContainer(engine, req.containerId);
      return {};
    }),
    listContainers: rpc.unary<ListContainersRequest, ListContainersResponse>("ListContainers", async (req) => {
      validateListContainers(req);
      const f = req.filter;
      const wanted = f?.state?.state;
      const recs = await listPodContainers(engine, {
        id: f?.id ?? "",
        podId: f?.podSandboxId ?? "",
        labels: f?.labelSelector ?? {},
        ...(wanted !== undefined ? { states: (r) => criState(r.state) === wanted } : {}),
      });
      return { containers: recs.map(toCriContainer) };
    }),
    containerStatus: rpc.unary<ContainerStatusRequest, ContainerStatusResponse>("ContainerStatus", async (req) => {
      validateContainerId(req);
      const rec = await inspectContainer(engine, req.containerId);
      const pod = rec.config.pod ? await findPod(engine, rec.config.pod.id) : undefined;
      const info: Record<string, string> = req.verbose
        ? { info: JSON.stringify({ pid: rec.pid, conmonPid: rec.conmonPid, bundle: rec.bundlePath, state: rec.state, config: rec.config }) }
        : {};
      return { status: toCriContainerStatus(rec, pod), info };
    }),
    updateContainerResources: rpc.unary<UpdateContainerResourcesRequest, UpdateContainerResourcesResponse>("UpdateContainerResources", async (req) => {
      validateUpdateResources(req);
      await updateContainer(engine, req.containerId, toResources(req.linux, "linux") ?? Resources.fromPartial({}));
      return {};
    }),
    reopenContainerLog: rpc.unary<ReopenContainerLogRequest, ReopenContainerLogResponse>("ReopenContainerLog", async (req) => {
      validateContainerId(req);
      await reopenContainerLog(engine, req.containerId);
      return {};
    }),
    execSync: rpc.unary<ExecSyncRequest, ExecSyncResponse>("ExecSync", async (req, ctx) => {
      validateCriExecSync(req);
      const r = await execSyncContainer(
        engine,
        req.containerId,
        { command: req.cmd, env: [], workingDir: "", user: "", tty: false, stdin: false, timeoutSeconds: Number(req.timeout) },
        ctx.signal,
      );
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
    }),
  };
}
