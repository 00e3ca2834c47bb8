// RemoveContainer (libpod's RemoveContainer): refuse while others depend on
// it; stop it first when forced; then delete the runtime container, every
// file hull keeps for it and its record. A remove intent written with the
// REMOVING save lets a hulld that dies midway finish the job at start.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import { removeExitFile } from "../oci/exits.js";
import { unmountImageRootfs } from "../images/overlay.js";
import { unmountImageVolumes } from "../images/image-volumes.js";
import type { Engine } from "../engine/engine.js";
import { removeIntent } from "../engine/intents.js";
import { exportsReading } from "./rootfs.js";
import { ensureStopped, KILL_GRACE_MS, signalProcess } from "./stop.js";
import { sessionDir } from "./exec.js";

const S = ContainerState;
const SIGKILL = 9;
/** How often a forced removal stops a container without its lock before it kills it under the lock. */
const REMOVE_STOP_ATTEMPTS = 3;

function isLive(state: ContainerState): boolean {
  return [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING].includes(state);
}

/**
 * An image container's files (upper dir, overlay mount) go with it, so an
 * export reading them would end in a cut-off archive: refuse instead of
 * waiting (a stalled reader could hold a removal for ever), forced or not.
 * Exports take their hold under the container's lock, so checked under it
 * this cannot miss one. A host-directory rootfs is the user's and stays, so
 * its exports do not hold up removal.
 */
function refuseWhileExporting(engine: Engine, rec: ContainerRecord): void {
  const n = exportsReading(engine, rec.id);
  if (rec.imageId === undefined || n === 0) return;
  throw new HullError(
    "CONTAINER_STATE_INVALID",
    `container ${rec.id.slice(0, 12)} cannot be removed while ${n} export${n === 1 ? "" : "s"} of its root filesystem ${n === 1 ? "is" : "are"} in progress`,
    { container: rec.id, operation: "remove", exports: String(n) },
  );
}

export async function removeContainer(engine: Engine, ref: string, force: boolean, timeoutSeconds?: number): Promise<string> {
  const id = await engine.resolve(ref);
  const dependents = await engine.store.findDependents(id);
  if (dependents.length > 0) {
    throw new HullError(
      "CONTAINER_HAS_DEPENDENTS",
      `container ${id.slice(0, 12)} has dependent containers which must be removed first: ${dependents.map((d) => d.slice(0, 12)).join(", ")}`,
      { container: id, dependents: dependents.join(",") },
    );
  }
  const operation = force ? "force-remove" : "remove";
  const live = await engine.withLock(id, "remove", async (rec) => {
    checkOperation(rec.id, rec.state, operation);
    // Before stopping it: a refused removal must leave the container as it was.
    refuseWhileExporting(engine, rec);
    return isLive(rec.state);
  });
  if (live) await ensureStopped(engine, id, timeoutSeconds);
  for (let attempt = 1; ; attempt++) {
    const removed = await engine.withLock(id, "remove", async (rec) => {
      checkOperation(rec.id, rec.state, operation);
      refuseWhileExporting(engine, rec);
      let current = rec;
      if (isLive(current.state)) {
        // Started again by another call since the look above: stop it again
        // without the lock (a graceful stop may take its whole timeout)...
        if (attempt < REMOVE_STOP_ATTEMPTS) return false;
        // ...unless others keep starting it: then end it here, where nobody
        // can, so its exit is still recorded rather than lost to delete --force.
        current = await killForRemovalLocked(engine, current);
      }
      await removeLocked(engine, current);
      return true;
    });
    if (removed) return id;
    await ensureStopped(engine, id, timeoutSeconds);
  }
}

/** SIGKILL and the recorded exit, all under the container's lock (caller holds it). */
async function killForRemovalLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  const waiter = engine.exitWaiter(rec.id);
  try {
    await signalProcess(engine, rec.id, SIGKILL);
    const code = await waiter.wait(KILL_GRACE_MS);
    if (code !== undefined) return await engine.recordExit(rec, code);
    engine.log.warn({ container: rec.id }, `no exit status ${KILL_GRACE_MS / 1000}s after SIGKILL; removing the container as it is`);
    return rec;
  } finally {
    waiter.cancel();
  }
}

/**
 * Deletes the container's record, then its runtime container and every
 * file hull keeps for it. The REMOVING save (with a remove intent, one
 * batch) comes first: a hulld that dies before the record goes finds it at
 * start and finishes the job with this same function. Once the record is
 * deleted the client has its answer; the runtime delete and the files
 * follow in the background (teardowns.ts), after any runtime delete the
 * exit's cleanup left pending, as nothing can name the container any more:
 * a hulld that dies before they finish finds them as orphans at start
 * (recovery/orphans.ts). The mounts go before the record, so no image is
 * ever removed from under a mounted overlay. Caller holds the lock; the
 * process has exited.
 */
export async function removeLocked(engine: Engine, rec: ContainerRecord): Promise<void> {
  const id = rec.id;
  const removing = await engine.saveWithIntent({ ...rec, state: S.CONTAINER_STATE_REMOVING }, removeIntent());
  // Unmounted whatever its mount count: rm must not descend into the image's files (nor an image volume's).
  await unmountImageVolumes(engine.containerDir(id), rec);
  if (rec.imageId !== undefined) await unmountImageRootfs(engine.containerDir(id), rec);
  await engine.store.deleteContainer(id);
  await engine.event("remove", removing);
  engine.bus.removed(id);
  engine.teardowns.defer(id, "remove", () => removeRuntimeAndFiles(engine, rec));
}

/** What a removed container leaves on the host: its runtime container, the monitor's files, the bundle, its dirs, the exit file. */
async function removeRuntimeAndFiles(engine: Engine, rec: ContainerRecord): Promise<void> {
  const id = rec.id;
  if (await engine.runtime.exists(id)) await engine.runtime.delete(id, true);
  const { paths } = engine;
  // The monitor's files outside the bundle (its socket link), the exec sessions' too.
  await engine.runtime.removeMonitorFiles(id);
  for (const s of rec.execSessions) await engine.runtime.removeExecFiles(s.id, sessionDir(engine, id, s.id));
  await rm(engine.bundlePath(id), { recursive: true, force: true });
  await rm(join(paths.persistDir, id), { recursive: true, force: true });
  await rm(engine.containerDir(id), { recursive: true, force: true });
  await removeExitFile(paths.exitDir, id);
}
