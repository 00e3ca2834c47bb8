// gRPC handlers that read or reconcile state: Inspect, List, Wait, Sync.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { waitContainer } from "../ops/wait.js";
import { syncContainer } from "../ops/sync.js";
import { inspectContainer, listContainers } from "../ops/inspect.js";
import { toContainer } from "./convert.js";
import { containerResponses } from "./container-responses.js";
import { validateInspectRequest, validateListRequest, validateSyncRequest, validateWaitRequest } from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

type QueryHandlers = Pick<ContainerServiceServer, "inspectContainer" | "listContainers" | "waitContainer" | "syncContainer">;

export function queryHandlers(engine: Engine, rpc: RpcWrapper): QueryHandlers {
  const responses = containerResponses(engine.store);
  return {
    inspectContainer: rpc.unary("InspectContainer", async (req) => {
      validateInspectRequest(req);
      return responses.inspect(await inspectContainer(engine, req.id));
    }),
    listContainers: rpc.unary("ListContainers", async (req) => {
      validateListRequest(req);
      return responses.list(await listContainers(engine, req));
    }),
    waitContainer: rpc.unary("WaitContainer", async (req, ctx) => {
      validateWaitRequest(req);
      return waitContainer(engine, req.id, req.condition, ctx.signal);
    }),
    syncContainer: rpc.unary("SyncContainer", async (req) => {
      validateSyncRequest(req);
      return { container: toContainer(await syncContainer(engine, req.id)) };
    }),
  };
}
