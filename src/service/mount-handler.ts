// MountContainer, UnmountContainer and ExportContainer: the container's root filesystem on the host.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetServerStream, notYetUnary, type RpcWrapper } from "./rpc.js";

export function mountHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "mountContainer" | "unmountContainer" | "exportContainer"> {
  void engine;
  void rpc;
  return {
    mountContainer: notYetUnary("storage (mount)"),
    unmountContainer: notYetUnary("storage (unmount)"),
    exportContainer: notYetServerStream("storage (export)"),
  };
}
