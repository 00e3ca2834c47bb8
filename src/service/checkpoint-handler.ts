// CheckpointContainer and RestoreContainer: CRIU through the OCI runtime.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetUnary, type RpcWrapper } from "./rpc.js";

export function checkpointHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "checkpointContainer" | "restoreContainer"> {
  void engine;
  void rpc;
  return {
    checkpointContainer: notYetUnary("checkpoint"),
    restoreContainer: notYetUnary("checkpoint (restore)"),
  };
}
