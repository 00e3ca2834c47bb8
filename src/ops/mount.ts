// The seed's Mount/Unmount: a user-visible mount count on top of the rootfs
// seam (rootfs.ts). The count lives in the record so it survives a daemon
// restart, as containers/storage keeps its mount counts on disk; `mounted` is
// derived from it. The runtime's own use of the rootfs is not in the count:
// it follows from the state, which is why the last unmount looks at the state.
import { HullError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { checkOperation } from "../statemachine/states.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { mountRootfs, unmountRootfs } from "./rootfs.js";

const S = ContainerState;

/** Mounts (or re-uses the mount of) the rootfs and counts one more user. Caller holds the lock. */
export async function mountLocked(engine: Engine, rec: ContainerRecord): Promise<{ rec: ContainerRecord; path: string }> {
  // Refuses REMOVING: the seed's "cannot mount container X as it is being removed".
  checkOperation(rec.id, rec.state, "mount");
  const path = await mountRootfs(engine, rec);
  const saved = await engine.save({ ...rec, mountCount: rec.mountCount + 1 });
  await engine.event("mount", saved, { path, mountCount: String(saved.mountCount) });
  return { rec: saved, path };
}

/**
 * The seed's refusals for the unmount that would leave no user mount while
 * the container's processes still use its filesystem.
 */
function refuseLastUnmount(rec: ContainerRecord): void {
  const short = rec.id.slice(0, 12);
  if (rec.state === S.CONTAINER_STATE_RUNNING || rec.state === S.CONTAINER_STATE_PAUSED) {
    throw new HullError("CONTAINER_STATE_INVALID", `cannot unmount storage for container ${short} as it is running or paused`, {
      container: rec.id,
      operation: "unmount",
    });
  }
  const live = rec.execSessions.filter((s) => s.running);
  if (live.length > 0) {
    throw new HullError("EXEC_SESSIONS_ACTIVE", `container ${short} has active exec sessions, refusing to unmount`, {
      container: rec.id,
      operation: "unmount",
      sessions: live.map((s) => s.id).join(","),
    });
  }
}

/**
 * Counts one user fewer (force: none), releasing the rootfs when nothing
 * else holds it. A container that is not mounted is left as it is.
 * Caller holds the lock.
 */
export async function unmountLocked(engine: Engine, rec: ContainerRecord, force: boolean): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "unmount");
  // As the seed: unmounting what is not mounted succeeds and changes nothing (no event).
  if (rec.mountCount === 0) return rec;
  const next = force ? 0 : rec.mountCount - 1;
  if (next === 0) refuseLastUnmount(rec);
  const updated = { ...rec, mountCount: next };
  // Release first: a failed unmount must leave the count saying "mounted".
  await unmountRootfs(engine, updated);
  const saved = await engine.save(updated);
  await engine.event("unmount", saved, { mountCount: String(next), force: String(force) });
  return saved;
}

export function mountContainer(engine: Engine, ref: string): Promise<{ rec: ContainerRecord; path: string }> {
  return engine.locked(ref, "mount", (rec) => mountLocked(engine, rec));
}

export function unmountContainer(engine: Engine, ref: string, force: boolean): Promise<ContainerRecord> {
  return engine.locked(ref, "unmount", (rec) => unmountLocked(engine, rec, force));
}
