// ContainerLogs: the container's log (k8s-file), with follow, tail, since/until.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetServerStream, type RpcWrapper } from "./rpc.js";

export function logsHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "containerLogs"> {
  void engine;
  void rpc;
  return {
    containerLogs: notYetServerStream("logs"),
  };
}
