// Artifacts: small named blobs kept with a container. Each call validates the
// wire fields, then works under the container's lock in any state but
// removing, so a concurrent RemoveContainer cannot delete the dir mid-write.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../lifecycle/engine.js";
import { checkOperation } from "../statemachine/states.js";
import {
  deleteArtifact,
  getArtifact,
  listArtifacts,
  putArtifact,
  validateArtifactData,
  validateArtifactName,
} from "../storage/artifacts.js";
import { requireId } from "./lifecycle-handlers.js";
import type { RpcWrapper } from "./rpc.js";

export function artifactHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "putArtifact" | "getArtifact" | "deleteArtifact" | "listArtifacts"> {
  return {
    putArtifact: rpc.unary("PutArtifact", async (req) => {
      const ref = requireId(req.id);
      validateArtifactName(req.name);
      validateArtifactData(req.data);
      const artifact = await engine.locked(ref, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        return putArtifact(engine.containerDir(rec.id), req.name, req.data);
      });
      return { artifact };
    }),
    getArtifact: rpc.unary("GetArtifact", async (req) => {
      const ref = requireId(req.id);
      validateArtifactName(req.name);
      return engine.locked(ref, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        return getArtifact(engine.containerDir(rec.id), req.name);
      });
    }),
    deleteArtifact: rpc.unary("DeleteArtifact", async (req) => {
      const ref = requireId(req.id);
      validateArtifactName(req.name);
      await engine.locked(ref, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        await deleteArtifact(engine.containerDir(rec.id), req.name);
      });
      return {};
    }),
    listArtifacts: rpc.unary("ListArtifacts", async (req) => {
      const ref = requireId(req.id);
      const artifacts = await engine.locked(ref, "artifact", async (rec) => {
        checkOperation(rec.id, rec.state, "artifact");
        return listArtifacts(engine.containerDir(rec.id));
      });
      return { artifacts };
    }),
  };
}
