// Artifacts on the wire: validation, then one operation (ops/artifacts.ts).
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { deleteArtifact, getArtifact, listArtifacts, putArtifact } from "../ops/artifacts.js";
import { validateDeleteArtifactRequest, validateGetArtifactRequest, validateListArtifactsRequest, validatePutArtifactRequest } from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

export function artifactHandlers(
  engine: Engine,
  rpc: RpcWrapper,
): Pick<ContainerServiceServer, "putArtifact" | "getArtifact" | "deleteArtifact" | "listArtifacts"> {
  return {
    putArtifact: rpc.unary("PutArtifact", async (req) => {
      validatePutArtifactRequest(req);
      return { artifact: await putArtifact(engine, req.id, req.name, req.data) };
    }),
    getArtifact: rpc.unary("GetArtifact", async (req) => {
      validateGetArtifactRequest(req);
      return getArtifact(engine, req.id, req.name);
    }),
    deleteArtifact: rpc.unary("DeleteArtifact", async (req) => {
      validateDeleteArtifactRequest(req);
      await deleteArtifact(engine, req.id, req.name);
      return {};
    }),
    listArtifacts: rpc.unary("ListArtifacts", async (req) => {
      validateListArtifactsRequest(req);
      return { artifacts: await listArtifacts(engine, req.id) };
    }),
  };
}
