// CleanupContainer (libpod's Cleanup, which conmon's exit command runs for
// Podman): after an exit, apply the restart policy, or tear the runtime
// container down (STOPPED/CREATED/STOPPING → EXITED). Refuses while exec
// sessions are alive.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation, stateName } from "../statemachine/states.js";
import { shouldRestart } from "../domain/restart-policy.js";
import type { Engine } from "../engine/engine.js";
import { releaseRootfsAfterExit, unmountRootfs } from "./rootfs.js";
import { startLocked } from "./start.js";

const S = ContainerState;
/** How long cleanup waits for the monitor to report the exit of a process delete --force killed. */
const EXIT_AFTER_DELETE_MS = 5_000;

export interface CleanupResult {
  rec: ContainerRecord;
  restarted: boolean;
}

/** Deletes the runtime container; STOPPED/CREATED/STOPPING → EXITED. */
async function cleanupRuntime(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  if (rec.state === S.CONTAINER_STATE_STOPPED) return cleanupExited(engine, rec);
  // A stop in flight: delete --force kills the process, whose exit must still be recorded, not lost.
  const waiter = rec.state === S.CONTAINER_STATE_STOPPING ? engine.exitWaiter(rec.id) : undefined;
  try {
    await engine.runtime.delete(rec.id, true);
    const code = await waiter?.wait(EXIT_AFTER_DELETE_MS);
    if (code !== undefined) rec = await engine.recordExit(rec, code);
  } finally {
    waiter?.cancel();
  }
  return saveExited(engine, rec);
}

/**
 * A process whose exit is recorded: its runtime container holds nothing
 * but runc's state dir and cgroup, and nothing of the runtime's holds its
 * overlay any more. Both go after the lock is let go (teardowns.ts), as
 * libpod's cleanup unmounts and deletes once the exit is stored: the
 * kubelet's ContainerStatus polls and a RemoveContainer right behind the
 * exit (run --rm, a Job's run-to-exit) then wait for neither `umount` nor
 * `runc delete`. The unmount goes first, as a removal waits for it (it
 * unmounts before the record goes). An EXITED record whose overlay or
 * runtime container survives a crash is repaired by recovery.
 */
async function cleanupExited(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  const saved = await saveExitedRecord(engine, rec);
  engine.teardowns.defer(rec.id, "cleanup", async () => {
    await releaseRootfsAfterExit(engine, rec.id);
    await engine.runtime.delete(rec.id, true);
  });
  return saved;
}

async function saveExitedRecord(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  // The stop intent (if any) ends here: the process is gone and recorded.
  const saved = await engine.saveWithIntent({ ...rec, state: S.CONTAINER_STATE_EXITED, pid: 0, finishedAt: rec.finishedAt || new Date().toISOString() }, null);
  await engine.event("cleanup", saved);
  return saved;
}

async function saveExited(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  const saved = await saveExitedRecord(engine, rec);
  // The runtime container is deleted, so nothing of the runtime's holds the overlay or the image volumes; MountContainer's users may.
  await unmountRootfs(engine, saved);
  return saved;
}

/** Restarts after an exit; on failure records why and leaves it for cleanup. */
async function restartByPolicy(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord | undefined> {
  const counted = await engine.save({ ...rec, restartCount: rec.restartCount + 1 });
  try {
    const started = await startLocked(engine, counted, { keepRestartCount: true });
    await engine.event("restart", started, { restartCount: String(started.restartCount), policy: rec.config.restartPolicy?.name ?? "" });
    return started;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    engine.log.warn({ container: rec.id, err }, "restart policy could not restart the container");
    const latest = (await engine.store.getContainer(rec.id)) ?? counted;
    await engine.save({ ...latest, stateReason: `restart policy failed: ${reason}` });
    return undefined;
  }
}

export async function cleanupLocked(engine: Engine, rec: ContainerRecord, onlyStopped = false): Promise<CleanupResult> {
  if (checkOperation(rec.id, rec.state, "cleanup") === "noop") return { rec, restarted: false };
  if (onlyStopped && rec.state !== S.CONTAINER_STATE_STOPPED) {
    throw new HullError(
      "CONTAINER_STATE_INVALID",
      `container ${rec.id.slice(0, 12)} is ${stateName(rec.state)}, and cleanup was asked for stopped containers only`,
      {
        container: rec.id,
        state: stateName(rec.state),
      },
    );
  }
  if (rec.state === S.CONTAINER_STATE_STOPPED && shouldRestart(rec)) {
    const restarted = await restartByPolicy(engine, rec);
    if (restarted) return { rec: restarted, restarted: true };
    rec = (await engine.store.getContainer(rec.id)) ?? rec;
  }
  const live = rec.execSessions.filter((s) => s.running);
  if (live.length > 0) {
    throw new HullError("EXEC_SESSIONS_ACTIVE", `container ${rec.id.slice(0, 12)} has ${live.length} active exec session(s), refusing to clean up`, {
      container: rec.id,
    });
  }
  return { rec: await cleanupRuntime(engine, rec), restarted: false };
}

export function cleanupContainer(engine: Engine, ref: string, onlyStopped: boolean): Promise<CleanupResult> {
  return engine.locked(ref, "cleanup", (rec) => cleanupLocked(engine, rec, onlyStopped));
}
