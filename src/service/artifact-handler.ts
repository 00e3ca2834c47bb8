// Artifacts: small named blobs kept with a container.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetUnary, type RpcWrapper } from "./rpc.js";

export function artifactHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "putArtifact" | "getArtifact" | "deleteArtifact" | "listArtifacts"> {
  void engine;
  void rpc;
  return {
    putArtifact: notYetUnary("storage (artifacts)"),
    getArtifact: notYetUnary("storage (artifacts)"),
    deleteArtifact: notYetUnary("storage (artifacts)"),
    listArtifacts: notYetUnary("storage (artifacts)"),
  };
}
