// gRPC handlers that read or reconcile state: Inspect, List, Wait, Sync.
import type { ContainerServiceServer, ListContainersRequest } from "../gen/hull/v1/container.js";
import type { ContainerRecord } from "../store/record.js";
import type { Engine } from "../engine/engine.js";
import { waitContainer } from "../ops/wait.js";
import { syncWithRuntime } from "../ops/sync.js";
import { toContainer } from "./convert.js";
import { validateInspectRequest, validateListRequest, validateSyncRequest, validateWaitRequest } from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

type QueryHandlers = Pick<ContainerServiceServer, "inspectContainer" | "listContainers" | "waitContainer" | "syncContainer">;

function matches(rec: ContainerRecord, req: ListContainersRequest): boolean {
  if (req.states.length > 0 && !req.states.includes(rec.state)) return false;
  if (req.name !== "" && !rec.name.includes(req.name)) return false;
  if (req.idPrefix !== "" && !rec.id.startsWith(req.idPrefix)) return false;
  for (const [key, value] of Object.entries(req.labels)) {
    const have = rec.config.labels[key];
    if (have === undefined || (value !== "" && have !== value)) return false;
  }
  return true;
}

export function queryHandlers(engine: Engine, rpc: RpcWrapper): QueryHandlers {
  return {
    inspectContainer: rpc.unary("InspectContainer", async (req) => {
      validateInspectRequest(req);
      return { container: toContainer(await engine.locked(req.id, "inspect", async (rec) => rec)) };
    }),
    listContainers: rpc.unary("ListContainers", async (req) => {
      validateListRequest(req);
      const records = await engine.store.listContainers();
      return { containers: records.filter((rec) => matches(rec, req)).map(toContainer) };
    }),
    waitContainer: rpc.unary("WaitContainer", async (req, ctx) => {
      validateWaitRequest(req);
      return waitContainer(engine, req.id, req.condition, ctx.signal);
    }),
    syncContainer: rpc.unary("SyncContainer", async (req) => {
      validateSyncRequest(req);
      return { container: toContainer(await engine.locked(req.id, "sync", (rec) => syncWithRuntime(engine, rec))) };
    }),
  };
}
