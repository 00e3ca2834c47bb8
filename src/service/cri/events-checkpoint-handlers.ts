// runtime.v1 GetContainerEvents (the kubelet's Evented PLEG) and
// CheckpointContainer (the kubelet's forensic checkpoint).
//
// GetContainerEvents turns hull's own lifecycle events of pod containers
// into the CRI's four (created, started, stopped, deleted), each with its
// pod's status and the container's, as the kubelet wants them; a client that
// reads too slowly is cut off with RESOURCE_EXHAUSTED rather than hulld
// buffering without bound, as hull.v1's Events does.
import type { ServerWritableStream } from "@grpc/grpc-js";
import type {
  CheckpointContainerRequest,
  CheckpointContainerResponse,
  ContainerEventResponse,
  GetEventsRequest,
  RuntimeServiceServer,
} from "../../gen/runtime/v1/api.js";
import { ContainerEventType } from "../../gen/runtime/v1/api.js";
import type { Event } from "../../gen/hull/v1/container.js";
import type { Engine } from "../../engine/engine.js";
import { HullError, invalidArgument } from "../../errors.js";
import { checkpointContainer } from "../../ops/checkpoint.js";
import { findPod } from "../../ops/pods/query.js";
import { CriuProbe } from "../../oci/criu.js";
import { rejectUndecodable } from "../../validation/wire.js";
import { checkAbsolutePath } from "../../validation/rules.js";
import { validateContainerId } from "../../validation/cri/runtime-requests.js";
import type { CallContext, RpcWrapper } from "../rpc.js";
import { toCriContainerStatus, toCriPodStatus } from "./convert.js";

type Handlers = Pick<RuntimeServiceServer, "getContainerEvents" | "checkpointContainer">;

/** hull's event types that are the CRI's four. */
const CRI_EVENT: Record<string, ContainerEventType> = {
  create: ContainerEventType.CONTAINER_CREATED_EVENT,
  start: ContainerEventType.CONTAINER_STARTED_EVENT,
  exit: ContainerEventType.CONTAINER_STOPPED_EVENT,
  remove: ContainerEventType.CONTAINER_DELETED_EVENT,
};
const MAX_BACKLOG = 10_000;

async function toCriEvent(engine: Engine, ev: Event, type: ContainerEventType): Promise<ContainerEventResponse | undefined> {
  const rec = await engine.store.getContainer(ev.containerId);
  const podId = rec?.config.pod?.id ?? ev.attributes["pod"] ?? "";
  if (podId === "" || ev.attributes["infra"] === "true" || rec?.config.pod?.infra === true) return undefined;
  const pod = await findPod(engine, podId);
  const createdAt = BigInt((ev.time ?? new Date()).getTime()) * 1_000_000n;
  return {
    containerId: ev.containerId,
    containerEventType: type,
    createdAt,
    ...(pod ? { podSandboxStatus: toCriPodStatus(pod) } : {}),
    containersStatuses: rec ? [toCriContainerStatus(rec, pod)] : [],
  };
}

async function streamEvents(engine: Engine, call: ServerWritableStream<GetEventsRequest, ContainerEventResponse>, ctx: CallContext): Promise<void> {
  const queue: Event[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  const unsubscribe = engine.bus.subscribeEvents((ev) => {
    if (CRI_EVENT[ev.type] === undefined || ev.containerId === "") return;
    if (queue.length >= MAX_BACKLOG) overflow = true;
    else queue.push(ev);
    wake?.();
  });
  const onAbort = (): void => wake?.();
  ctx.signal.addEventListener("abort", onAbort);
  try {
    for (;;) {
      if (ctx.signal.aborted) return;
      if (overflow) throw new HullError("RESOURCE_EXHAUSTED", `the client fell more than ${MAX_BACKLOG} container events behind; its stream was ended`);
      const ev = queue.shift();
      if (ev === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const out = await toCriEvent(engine, ev, CRI_EVENT[ev.type] ?? ContainerEventType.UNRECOGNIZED);
      if (out !== undefined && !call.write(out)) await new Promise<void>((resolve) => call.once("drain", resolve));
    }
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

export function criEventsCheckpointHandlers(engine: Engine, rpc: RpcWrapper, probe = new CriuProbe()): Handlers {
  return {
    getContainerEvents: rpc.serverStream<GetEventsRequest, ContainerEventResponse>("GetContainerEvents", async (call, ctx) => {
      rejectUndecodable(call.request);
      await streamEvents(engine, call, ctx);
    }),
    checkpointContainer: rpc.unary<CheckpointContainerRequest, CheckpointContainerResponse>("CheckpointContainer", async (req) => {
      validateContainerId(req);
      if (req.location === "") throw invalidArgument("location", "the archive's path is required");
      checkAbsolutePath("location", req.location);
      // The kubelet's checkpoint leaves the container running and writes one archive.
      await probe.require("checkpoint");
      await checkpointContainer(engine, req.containerId, {
        keep: false,
        keepRunning: true,
        tcpEstablished: false,
        targetFile: req.location,
        ignoreRootfs: false,
      });
      return {};
    }),
  };
}
