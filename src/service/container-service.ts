// hull.v1.ContainerService: every handler, one file per concern.
import type { Logger } from "pino";
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { attachHandlers } from "./attach-handler.js";
import { batchHandler } from "./batch-handler.js";
import { eventsHandlers } from "./events-handler.js";
import { execHandlers } from "./exec-handler.js";
import { logsHandlers } from "./logs-handler.js";
import { lifecycleHandlers } from "./lifecycle-handlers.js";
import { queryHandlers } from "./query-handlers.js";
import { RpcWrapper } from "./rpc.js";
import { mountHandlers } from "./mount-handler.js";
import { artifactHandlers } from "./artifact-handler.js";
import { checkpointHandlers } from "./checkpoint-handler.js";

export function containerService(engine: Engine, log: Logger): ContainerServiceServer {
  const rpc = new RpcWrapper("hull.v1.ContainerService", log);
  return {
    ...lifecycleHandlers(engine, rpc),
    ...queryHandlers(engine, rpc),
    ...batchHandler(engine, rpc),
    ...attachHandlers(engine, rpc),
    ...logsHandlers(engine, rpc),
    ...execHandlers(engine, rpc),
    ...eventsHandlers(engine, rpc),
    ...mountHandlers(engine, rpc),
    ...artifactHandlers(engine, rpc),
    ...checkpointHandlers(engine, rpc),
  };
}
