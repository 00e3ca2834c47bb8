// gRPC handlers that read or reconcile state: Inspect, List, Wait, Sync.
import type { ContainerServiceServer, ListContainersRequest } from "../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { invalidArgument } from "../errors.js";
import { ALL_STATES } from "../statemachine/states.js";
import type { Engine } from "../lifecycle/engine.js";
import { waitContainer } from "../lifecycle/wait.js";
import { syncWithRuntime } from "../lifecycle/sync.js";
import { toContainer } from "./convert.js";
import { requireId } from "./lifecycle-handlers.js";
import type { RpcWrapper } from "./rpc.js";

type QueryHandlers = Pick<ContainerServiceServer, "inspectContainer" | "listContainers" | "waitContainer" | "syncContainer">;

function checkState(field: string, state: ContainerState): void {
  if (!ALL_STATES.includes(state)) throw invalidArgument(field, `${String(state)} is not a container state`);
}

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
    inspectContainer: rpc.unary("InspectContainer", async (req) => ({
      container: toContainer(await engine.locked(requireId(req.id), "inspect", async (rec) => rec)),
    })),
    listContainers: rpc.unary("ListContainers", async (req) => {
      req.states.forEach((s, i) => checkState(`states[${i}]`, s));
      const records = await engine.store.listContainers();
      return { containers: records.filter((rec) => matches(rec, req)).map(toContainer) };
    }),
    waitContainer: rpc.unary("WaitContainer", async (req, ctx) => {
      if (req.condition !== undefined) checkState("condition", req.condition);
      return waitContainer(engine, requireId(req.id), req.condition, ctx.signal);
    }),
    syncContainer: rpc.unary("SyncContainer", async (req) => ({
      container: toContainer(await engine.locked(requireId(req.id), "sync", (rec) => syncWithRuntime(engine, rec))),
    })),
  };
}
