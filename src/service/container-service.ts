// hull.v1.ContainerService: the lifecycle, query and batch handlers, plus
// clear UNIMPLEMENTED answers for the RPCs later work brings (streams,
// storage, checkpoint), each naming its area.
import type { Logger } from "pino";
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { attachHandlers } from "./attach-handler.js";
import { batchHandler } from "./batch.js";
import { eventsHandlers } from "./events-handler.js";
import { execHandlers } from "./exec-handler.js";
import { logsHandlers } from "./logs-handler.js";
import { lifecycleHandlers } from "./lifecycle-handlers.js";
import { queryHandlers } from "./query-handlers.js";
import { RpcWrapper, notYetBidi, notYetServerStream, notYetUnary } from "./rpc.js";

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
    mountContainer: notYetUnary("storage (mount)"),
    unmountContainer: notYetUnary("storage (unmount)"),
    exportContainer: notYetServerStream("storage (export)"),
    putArtifact: notYetUnary("storage (artifacts)"),
    getArtifact: notYetUnary("storage (artifacts)"),
    deleteArtifact: notYetUnary("storage (artifacts)"),
    listArtifacts: notYetUnary("storage (artifacts)"),
    checkpointContainer: notYetUnary("checkpoint"),
    restoreContainer: notYetUnary("checkpoint (restore)"),
  };
}
