// AttachContainer and ResizeTerminal: conmon's attach socket and control FIFO.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetBidi, notYetUnary, type RpcWrapper } from "./rpc.js";

export function attachHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "attachContainer" | "resizeTerminal"> {
  void engine;
  void rpc;
  return {
    attachContainer: notYetBidi("attach"),
    resizeTerminal: notYetUnary("attach (terminal resize)"),
  };
}
