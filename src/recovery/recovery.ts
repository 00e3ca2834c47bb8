// What hulld does at every start, before it serves: bring the store in line
// with what really runs. Containers outlive hulld (conmon daemonizes), so a
// restart, clean or not, finds them as they are now:
// - conmon alive and the runtime says created/running/paused: kept, with the
//   runtime's word for which of the three (a pause or start whose save was
//   lost shows up here);
// - the process exited while hulld was down: the exit file's code is
//   recorded and cleanup applies the restart policy;
// - the runtime container is gone and no exit file will come (deleted behind
//   hulld's back, conmon killed): STOPPED with exit code -1 and a state
//   reason, then cleaned up to EXITED. libpod does the same (exited, -1);
//   UNKNOWN is kept for a runtime status hull cannot read (states.ts);
// - a STOPPING cut short: the stop goes on. The stop signal is sent again
//   (a duplicate is harmless, a lost one would turn a clean stop into a
//   kill) and SIGKILL follows when the deadline recorded at the first stop
//   passes: at once if it already has;
// - a write-ahead intent (intents.ts) left by a crash is repaired: a cut
//   init's half-made runtime container is deleted (the record keeps its
//   state before the init), a cut removal is finished;
// - runtime containers, conmon processes, mounts and files for ids with no
//   record are logged at warn with their ids and removed. No event: events
//   describe containers clients know, and an orphan never was one.
import { recoverPods } from "./pods.js";
import { ContainerState, type ContainerRecord, type OperationIntent } from "../store/record.js";
import type { RuntimeState } from "../oci/runtime.js";
import { parseSignal } from "../domain/signals.js";
import type { Engine } from "../engine/engine.js";
import { stopRemainingMs } from "../engine/intents.js";
import { rootfsInUse, rootfsMounted, unmountRootfs } from "../ops/rootfs.js";
import { handleExit } from "../ops/exit.js";
import { recoverExecSessions } from "../ops/exec.js";
import { applyRuntimeState, vanished } from "../ops/sync.js";
import { DEFAULT_STOP_TIMEOUT, stopContainer } from "../ops/stop.js";
import { removeLocked } from "../ops/remove.js";
import { deleteRuntimeLeftovers, undoInit } from "../ops/init.js";
import { surveyHost, type HostView } from "./survey.js";
import { sweepOrphans } from "./orphans.js";
import { planRecovery } from "./plan.js";

const S = ContainerState;

export interface RecoveryReport {
  containers: number;
  /** Containers whose record or runtime container had to be repaired. */
  repaired: string[];
  /** Ids with leftovers (runtime container, conmon, mount, files) and no record. */
  orphans: string[];
  /** Ready pods on a CNI network kept as they were: the daemon CHECKs them once serving (recovery/pods.ts). */
  podsToCheck: string[];
}

/** Reconciles every record and sweeps orphans; never throws for one container (it logs and goes on). */
export async function recoverAll(engine: Engine): Promise<RecoveryReport> {
  const { log } = engine;
  const began = Date.now();
  const records = await engine.store.listContainers();
  const known = new Set(records.map((r) => r.id));
  const intents = engine.store.listIntents();
  for (const id of intents.keys()) if (!known.has(id)) await engine.store.setIntent(id, null);
  const host = await surveyHost(engine);
  const orphans = await sweepOrphans(engine, records, host);
  const repaired: string[] = [];
  for (const rec of records) {
    try {
      await recoverExecSessions(engine, rec.id);
      if (await recoverContainer(engine, rec, intents.get(rec.id), host)) repaired.push(rec.id);
    } catch (err) {
      log.error({ err, container: rec.id }, "reconciling the container with the runtime");
    }
  }
  // Finished removals delete their files in the background (ops/remove.ts): done before hulld serves.
  await engine.teardowns.settleAll();
  const pods = await recoverPods(engine);
  log.info(
    {
      containers: records.length,
      repaired: repaired.length,
      orphans: orphans.length,
      podsRemoved: pods.removed.length,
      podsStopped: pods.stopped.length,
      podsToCheck: pods.toCheck.length,
      durationMs: Date.now() - began,
    },
    "reconciled the store with the runtime",
  );
  return { containers: records.length, repaired, orphans, podsToCheck: pods.toCheck };
}

/** Carries out planRecovery's plan for one record; returns whether something had to be repaired. */
async function recoverContainer(engine: Engine, rec: ContainerRecord, intent: OperationIntent | undefined, host: HostView): Promise<boolean> {
  const { log } = engine;
  const id = rec.id;
  let repaired = false;
  let finishRemoval = false;
  const synced = await engine.withLock(id, "recover", async (current) => {
    const seen = host.runtime ? host.runtime.get(id) : await engine.runtime.state(id);
    const monitorAlive = (host.monitors.get(id) ?? []).length > 0;
    const plan = planRecovery({ state: current.state, intent, runtime: seen, monitorAlive });
    if (plan.finishRemoval) {
      log.warn({ container: id }, "finishing a removal cut short by a hulld restart");
      await deleteRuntimeLeftovers(engine, id, host.monitors.get(id));
      await removeLocked(engine, current);
      finishRemoval = true;
      return current;
    }
    if (plan.clearStaleIntent) await engine.store.setIntent(id, null);
    if (plan.undoInit) {
      log.warn(
        { container: id, state: current.state, since: intent?.startedAt, runtimeStatus: seen?.status ?? "unknown" },
        "undoing an init cut short by a hulld restart (deleting its half-made runtime container)",
      );
      await undoInit(engine, current);
      await engine.event("sync", current, { recovered: "init-undone" });
      repaired = true;
    }
    const action = plan.action;
    switch (action.kind) {
      case "delete-leftovers":
        // No runtime container belongs here: the leftover of an operation that did not finish.
        log.warn(
          { container: id, runtimeStatus: seen?.status ?? "none", monitors: monitorAlive },
          "deleting a runtime container the record says should not exist",
        );
        await deleteRuntimeLeftovers(engine, id, host.monitors.get(id));
        repaired = true;
        break;
      case "keep-live":
        // Known gap: with conmon gone nothing will write this process's exit file.
        if (action.monitorGone)
          log.warn({ container: id, runtimeStatus: seen?.status }, "the container runs but its monitor (conmon) is gone: its exit will not be recorded");
        if (seen) return reconcileLive(engine, current, seen);
        break;
      case "await-exit-file":
        // The exit watcher takes it when it comes.
        return current;
      case "record-vanished": {
        log.warn({ container: id, reason: action.reason }, "recording an exit nobody saw");
        repaired = true;
        const saved = await engine.save(vanished(current, action.reason));
        await engine.event("exit", saved, { exitCode: String(saved.exitCode), reason: action.reason });
        return saved;
      }
      case "none":
        break;
    }
    if (current.state === S.CONTAINER_STATE_CONFIGURED || current.state === S.CONTAINER_STATE_EXITED) {
      // Asked again, not from the survey: undoInit may have just unmounted it.
      // Its image volumes too: they are mounted and released with the rootfs.
      if (!rootfsInUse(engine, current) && (await rootfsMounted(engine, current))) {
        log.warn({ container: id }, "unmounting the overlay (or image volumes) of a container nothing holds");
        await unmountRootfs(engine, current);
        repaired = true;
      }
    }
    return current;
  });
  if (finishRemoval) return true;
  if (synced.state === S.CONTAINER_STATE_STOPPED) await handleExit(engine, id);
  if (synced.state === S.CONTAINER_STATE_STOPPING) continueStop(engine, synced, engine.store.getIntent(id));
  return repaired;
}

/** A runtime container that exists and has a live process: keep it, in the state the runtime reports. */
async function reconcileLive(engine: Engine, rec: ContainerRecord, seen: RuntimeState): Promise<ContainerRecord> {
  if (rec.state === S.CONTAINER_STATE_STOPPING && seen.status === "paused") {
    // Cut between the stop signal and the thaw in beginStop: a frozen process cannot act on it.
    await engine.runtime.resume(rec.id);
    return rec;
  }
  return applyRuntimeState(engine, rec, seen);
}

/**
 * Goes on with a stop whose waiting died with the old hulld: the stop
 * signal again, then SIGKILL at the recorded deadline (at once when it has
 * passed; the container's whole stop timeout when no deadline was recorded).
 * Runs in the background: STOPPING blocks nobody meanwhile.
 */
function continueStop(engine: Engine, rec: ContainerRecord, intent: OperationIntent | undefined): void {
  const { log } = engine;
  const remainingMs = stopRemainingMs(intent) ?? (rec.config.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT) * 1000;
  log.warn(
    { container: rec.id, remainingMs },
    remainingMs > 0 ? "continuing a stop cut short by a hulld restart" : "killing a container whose stop timed out while hulld was down",
  );
  void (async () => {
    if (remainingMs > 0) {
      await engine.runtime.kill(rec.id, parseSignal(rec.config.stopSignal || "SIGTERM"), false).catch((err: unknown) =>
        // It may have exited just now: the stop below sees the exit file.
        log.warn({ err, container: rec.id }, "re-sending the stop signal"),
      );
    }
    await stopContainer(engine, rec.id, remainingMs / 1000);
  })().catch((err: unknown) => log.error({ err, container: rec.id }, "finishing an interrupted stop"));
}
