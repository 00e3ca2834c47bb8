// Artifacts: small named blobs kept with a container (images/artifacts.ts
// stores them). Each works under the container's lock in any state but
// removing, so a concurrent RemoveContainer cannot delete the dir mid-write.
import { checkOperation } from "../statemachine/states.js";
import * as store from "../images/artifacts.js";
import type { Engine } from "../engine/engine.js";

function withArtifacts<T>(engine: Engine, ref: string, fn: (dir: string) => Promise<T>): Promise<T> {
  return engine.locked(ref, "artifact", async (rec) => {
    checkOperation(rec.id, rec.state, "artifact");
    return fn(engine.containerDir(rec.id));
  });
}

export function putArtifact(engine: Engine, ref: string, name: string, data: Uint8Array): ReturnType<typeof store.putArtifact> {
  return withArtifacts(engine, ref, (dir) => store.putArtifact(dir, name, data));
}

export function getArtifact(engine: Engine, ref: string, name: string): ReturnType<typeof store.getArtifact> {
  return withArtifacts(engine, ref, (dir) => store.getArtifact(dir, name));
}

export function deleteArtifact(engine: Engine, ref: string, name: string): Promise<void> {
  return withArtifacts(engine, ref, (dir) => store.deleteArtifact(dir, name));
}

export function listArtifacts(engine: Engine, ref: string): ReturnType<typeof store.listArtifacts> {
  return withArtifacts(engine, ref, (dir) => store.listArtifacts(dir));
}
