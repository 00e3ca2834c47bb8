// Events: the lifecycle event stream (live, filtered, with replay of stored events).
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetServerStream, type RpcWrapper } from "./rpc.js";

export function eventsHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "events"> {
  void engine;
  void rpc;
  return {
    events: notYetServerStream("events"),
  };
}
