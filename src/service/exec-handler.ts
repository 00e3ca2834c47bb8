// ExecContainer and ExecSync: processes run in a running container.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetBidi, notYetUnary, type RpcWrapper } from "./rpc.js";

export function execHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "execContainer" | "execSync"> {
  void engine;
  void rpc;
  return {
    execContainer: notYetBidi("exec"),
    execSync: notYetUnary("exec"),
  };
}
