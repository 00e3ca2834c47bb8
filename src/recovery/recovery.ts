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
import { ContainerState, type ContainerRecord, type OperationIntent } from "../store/record.js";
import { mayHaveExited } from "../statemachine/states.js";
import type { RuntimeState } from "../oci/runtime.js";
import { parseSignal } from "../domain/signals.js";
import { rootfsInUse, unmountRootfs } from "../ops/rootfs.js";
import { isMounted, overlayDirs } from "../images/overlay.js";
import type { Engine } from "../engine/engine.js";
import { handleExit } from "../ops/exit.js";
import { recoverExecSessions } from "../ops/exec.js";
import { applyRuntimeState, vanished } from "../ops/sync.js";
import { DEFAULT_STOP_TIMEOUT, removeLocked, stopContainer } from "../ops/stop.js";
import { stopRemainingMs } from "../engine/intents.js";
import { deleteRuntimeLeftovers, mountsUnder, scanMonitors, undoInit, type MonitorProcess } from "./repair.js";
import { sweepOrphans } from "./orphans.js";

const S = ContainerState;

/** What hulld found of the host at start: one runtime list and one /proc scan for every record. */
export interface HostView {
  /** undefined when the runtime could not list its containers: then each record asks for its own. */
  runtime: Map<string, RuntimeState> | undefined;
  /** Container monitors (not exec sessions') by container id. */
  monitors: Map<string, MonitorProcess[]>;
  allMonitors: MonitorProcess[];
  mounts: string[];
}

export async function surveyHost(engine: Engine): Promise<HostView> {
  const { root, runRoot } = engine.deps.paths;
  const listing = engine.runtime.list().catch((err: unknown) => {
    // Recovery must not keep hulld from serving: go on asking container by container.
    engine.deps.log.error({ err }, "listing the runtime's containers; runtime orphans will not be swept this time");
    return undefined;
  });
  const [listed, allMonitors, mounts] = await Promise.all([listing, scanMonitors([root, runRoot]), mountsUnder([root, runRoot])]);
  const monitors = new Map<string, MonitorProcess[]>();
  for (const m of allMonitors.filter((x) => !x.exec)) monitors.set(m.containerId, [...(monitors.get(m.containerId) ?? []), m]);
  return { runtime: listed && new Map(listed.map((r) => [r.id, r])), monitors, allMonitors, mounts };
}

export interface RecoveryReport {
  containers: number;
  /** Containers whose record or runtime container had to be repaired. */
  repaired: string[];
  /** Ids with leftovers (runtime container, conmon, mount, files) and no record. */
  orphans: string[];
}

/** Reconciles every record and sweeps orphans; never throws for one container (it logs and goes on). */
export async function recoverAll(engine: Engine): Promise<RecoveryReport> {
  const { log } = engine.deps;
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
  log.info({ containers: records.length, repaired: repaired.length, orphans: orphans.length, durationMs: Date.now() - began }, "reconciled the store with the runtime");
  return { containers: records.length, repaired, orphans };
}

/** Returns whether something had to be repaired. */
async function recoverContainer(engine: Engine, rec: ContainerRecord, intent: OperationIntent | undefined, host: HostView): Promise<boolean> {
  const { log } = engine.deps;
  const id = rec.id;
  if (rec.state === S.CONTAINER_STATE_REMOVING || intent?.op === "remove") {
    log.warn({ container: id }, "finishing a removal cut short by a hulld restart");
    await engine.withLock(id, "recover", async (current) => {
      await deleteRuntimeLeftovers(engine, id, host.monitors.get(id));
      await removeLocked(engine, current);
    });
    return true;
  }
  let repaired = false;
  const synced = await engine.withLock(id, "recover", async (current) => {
    if (intent?.op === "init") {
      // The CREATED save clears the intent in its batch: a live state with one is a stale note.
      if (mayHaveExited(current.state)) await engine.store.setIntent(id, null);
      else {
        const runtimeStatus = host.runtime?.get(id)?.status ?? "unknown";
        log.warn({ container: id, state: current.state, since: intent.startedAt, runtimeStatus }, "undoing an init cut short by a hulld restart (deleting its half-made runtime container)");
        await undoInit(engine, current);
        await engine.event("sync", current, { recovered: "init-undone" });
        repaired = true;
      }
    }
    const seen = host.runtime ? host.runtime.get(id) : await engine.runtime.state(id);
    const monitorAlive = (host.monitors.get(id) ?? []).length > 0;
    switch (current.state) {
      case S.CONTAINER_STATE_CONFIGURED:
      case S.CONTAINER_STATE_EXITED: {
        if (!repaired && (seen || monitorAlive)) {
          // No runtime container belongs here: the leftover of an operation that did not finish.
          log.warn({ container: id, runtimeStatus: seen?.status ?? "none", monitors: monitorAlive }, "deleting a runtime container the record says should not exist");
          await deleteRuntimeLeftovers(engine, id, host.monitors.get(id));
          repaired = true;
        }
        // Asked again, not from the survey: undoInit may have just unmounted it.
        if (current.imageId !== undefined && !rootfsInUse(engine, current) && (await isMounted(overlayDirs(engine.containerDir(id)).merged))) {
          log.warn({ container: id }, "unmounting the overlay of a container nothing holds");
          await unmountRootfs(engine, current);
          repaired = true;
        }
        return current;
      }
      case S.CONTAINER_STATE_CREATED:
      case S.CONTAINER_STATE_RUNNING:
      case S.CONTAINER_STATE_PAUSED:
      case S.CONTAINER_STATE_STOPPING: {
        if (seen && seen.status !== "stopped") {
          // Known gap: with conmon gone nothing will write this process's exit file.
          if (!monitorAlive) log.warn({ container: id, runtimeStatus: seen.status }, "the container runs but its monitor (conmon) is gone: its exit will not be recorded");
          return reconcileLive(engine, current, seen);
        }
        // The process is gone and its monitor alive: the exit file is on its way (the watcher takes it).
        if (seen && monitorAlive) return current;
        const reason = seen ? "the container's monitor (conmon) died without recording an exit status" : "the runtime container vanished while hulld was down";
        log.warn({ container: id, reason }, "recording an exit nobody saw");
        repaired = true;
        const saved = await engine.save(vanished(current, reason));
        await engine.event("exit", saved, { exitCode: String(saved.exitCode), reason });
        return saved;
      }
      default:
        return current;
    }
  });
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
  const { log } = engine.deps;
  const remainingMs = stopRemainingMs(intent) ?? (rec.config.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT) * 1000;
  log.warn({ container: rec.id, remainingMs }, remainingMs > 0 ? "continuing a stop cut short by a hulld restart" : "killing a container whose stop timed out while hulld was down");
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
