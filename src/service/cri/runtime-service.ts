// The Kubernetes CRI front end (runtime.v1, what kubelet, crictl and critest
// speak), served on hulld's socket beside hull.v1 as CRI-O and containerd
// serve theirs on one socket. Its handlers are thin adapters onto the same
// operations hull.v1 calls (CRI-O's server/cri/v1 shape); while an RPC's
// capability is still being built it answers UNIMPLEMENTED naming it, through
// the same RPC wrapper (span, status map), never a silent OK.
import type { Logger } from "pino";
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { type RuntimeServiceServer, type VersionRequest, type VersionResponse } from "../../gen/runtime/v1/api.js";
import { HULL_VERSION } from "../../domain/version.js";
import { HullError } from "../../errors.js";
import { RpcWrapper } from "../rpc.js";
import type { Engine } from "../../engine/engine.js";
import { criImageHandlers } from "./image-service.js";
import { criInfoHandlers } from "./info-handlers.js";
import { criPodHandlers } from "./pod-handlers.js";
import { criContainerHandlers } from "./container-handlers.js";
import { criStatsHandlers } from "./stats-handlers.js";
import { criEventsCheckpointHandlers } from "./events-checkpoint-handlers.js";
import { criStreamingHandlers } from "./streaming-handlers.js";
import type { StreamingServer } from "../streaming/server.js";

/** The CRI version hull speaks (cri-api v1 as of Kubernetes 1.32). */
export const CRI_API_VERSION = "v1";
/** The `version` field of VersionResponse: the kubelet's API version string (CRI-O and containerd send "0.1.0"). */
const KUBELET_API_VERSION = "0.1.0";

/** UNIMPLEMENTED, through the wrapper, for every method of definition that implemented lacks. */
function withPending(rpc: RpcWrapper, service: string, definition: ServiceDefinition, implemented: Record<string, unknown>): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(definition)) {
    const handler = implemented[key];
    if (typeof handler === "function") {
      handlers[key] = handler as UntypedServiceImplementation[string];
      continue;
    }
    const name = method.path.slice(method.path.lastIndexOf("/") + 1);
    const refuse = async (): Promise<never> => {
      throw new HullError("NOT_IMPLEMENTED", `hull does not serve ${service}/${name}`, { method: name });
    };
    handlers[key] = method.responseStream ? rpc.serverStream(name, refuse) : rpc.unary(name, refuse);
  }
  return handlers;
}

export function versionResponse(): VersionResponse {
  return { version: KUBELET_API_VERSION, runtimeName: "hull", runtimeVersion: HULL_VERSION, runtimeApiVersion: CRI_API_VERSION };
}

/** runtime.v1.RuntimeService: what is served today, the rest refused by name. */
export function criRuntimeService(engine: Engine, definition: ServiceDefinition, streaming: StreamingServer, log: Logger): UntypedServiceImplementation {
  const service = "runtime.v1.RuntimeService";
  const rpc = new RpcWrapper(service, log);
  const implemented: Partial<RuntimeServiceServer> = {
    version: rpc.unary<VersionRequest, VersionResponse>("Version", async () => versionResponse()),
    ...criInfoHandlers(engine, rpc),
    ...criPodHandlers(engine, rpc),
    ...criContainerHandlers(engine, rpc),
    ...criStatsHandlers(engine, rpc),
    ...criEventsCheckpointHandlers(engine, rpc),
    ...criStreamingHandlers(engine, rpc, streaming),
  };
  return withPending(rpc, service, definition, implemented);
}

/** runtime.v1.ImageService over hull's image store. */
export function criImageService(engine: Engine, definition: ServiceDefinition, log: Logger): UntypedServiceImplementation {
  const service = "runtime.v1.ImageService";
  const rpc = new RpcWrapper(service, log);
  return withPending(
    rpc,
    service,
    definition,
    criImageHandlers(engine, rpc, {
      // The kubelet's image garbage collection must never take the pause image (CRI-O pins it the same way).
      pinned: (img) => engine.images.tagNamed(img, engine.pods.pauseImage) !== undefined,
    }),
  );
}
