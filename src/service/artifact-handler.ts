// Artifacts: small named blobs kept with a container. Each call validates the
// wire fields, then works under the container's lock in any state but
// removing, so a concurrent RemoveContainer cannot delete the dir mid-write.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { checkOperation } from "../statemachine/states.js";
import { deleteArtifact, getArtifact, listArtifacts, putArtifact } from "../images/artifacts.js";
import {
  validateDeleteArtifactRequest,
  validateGetArtifactRequest,
  validateListArtifactsRequest,
  validatePutArtifactRequest,
} from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

export function artifactHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "putArtifact" | "getArtifact" | "deleteArtifact" | "listArtifacts"> {
  return {
    putArtifact: rpc.unary("PutArtifact", async (req) => {
      validatePutArtifactRequest(req);
      const artifact = await engine.locked(req.id, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        return putArtifact(engine.containerDir(rec.id), req.name, req.data);
      });
      return { artifact };
    }),
    getArtifact: rpc.unary("GetArtifact", async (req) => {
      validateGetArtifactRequest(req);
      return engine.locked(req.id, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        return getArtifact(engine.containerDir(rec.id), req.name);
      });
    }),
    deleteArtifact: rpc.unary("DeleteArtifact", async (req) => {
      validateDeleteArtifactRequest(req);
      await engine.locked(req.id, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        await deleteArtifact(engine.containerDir(rec.id), req.name);
      });
      return {};
    }),
    listArtifacts: rpc.unary("ListArtifacts", async (req) => {
      validateListArtifactsRequest(req);
      const artifacts = await engine.locked(req.id, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        return listArtifacts(engine.containerDir(rec.id));
      });
      return { artifacts };
    }),
  };
}
