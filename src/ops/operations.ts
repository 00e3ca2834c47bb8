// Operations that run entirely under the container's lock: the seed's
// init, start, kill, pause, unpause and cleanup (with restart policies).
// Each takes a synced record and returns the saved one.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation, stateName } from "../statemachine/states.js";
import { generateSpec } from "../oci/spec.js";
import { seccompProfileFor } from "../oci/seccomp.js";
import { resolveUser } from "../oci/hostinfo.js";
import { writeBundle } from "../oci/bundle.js";
import { startConmon, type ConmonOptions } from "../oci/conmon.js";
import { removeExitFile } from "../oci/exits.js";
import { parseSignal } from "../domain/signals.js";
import type { Engine } from "../engine/engine.js";
import { mountRootfs, unmountRootfs } from "./rootfs.js";
import { exitWaiter } from "./stop.js";
import { initIntent, saveWithIntent } from "../engine/intents.js";
import { undoInit } from "../recovery/repair.js";

const S = ContainerState;
/** How long cleanup waits for conmon to report the exit of a process delete --force killed. */
const EXIT_AFTER_DELETE_MS = 5_000;

/**
 * Writes the bundle and starts conmon, which creates the runtime container
 * (or, with restore, has the runtime restore it from a CRIU image).
 * Shared by init and restore so both prepare a container the same way.
 */
export async function launchMonitor(
  engine: Engine,
  rec: ContainerRecord,
  restore?: ConmonOptions["restore"],
): Promise<{ pid: number; conmonPid: number; bundle: string }> {
  const { paths, hostLimits } = engine.deps;
  const bundle = engine.bundlePath(rec.id);
  // An image container's overlay goes up before anything reads its files.
  if (rec.imageId !== undefined) await mountRootfs(engine, rec);
  const user = await resolveUser(rec.rootfs, rec.config.user);
  const seccompProfile = await seccompProfileFor(rec.config.security);
  const spec = generateSpec({ id: rec.id, config: rec.config, rootfs: rec.rootfs, user, hostLimits, cgroupsPath: `/hull/${rec.id}`, seccompProfile });
  await writeBundle(bundle, spec);
  await removeExitFile(paths.exitDir, rec.id);
  await rm(join(paths.persistDir, rec.id), { recursive: true, force: true });
  await mkdir(join(paths.persistDir, rec.id), { recursive: true, mode: 0o700 });
  // A runtime container left over from a crash would make create fail.
  if (await engine.runtime.exists(rec.id)) await engine.runtime.delete(rec.id, true);
  const { pid, conmonPid } = await startConmon({
    id: rec.id,
    name: rec.name,
    bundlePath: bundle,
    runtime: engine.runtime,
    exitDir: paths.exitDir,
    persistDir: join(paths.persistDir, rec.id),
    logPath: rec.logPath,
    logMaxSizeBytes: rec.config.logMaxSizeBytes,
    tty: rec.config.tty,
    stdin: rec.config.stdin,
    socketDir: paths.socketDir,
    conmonBinary: engine.deps.conmonBinary,
    ...(restore ? { restore } : {}),
  });
  return { pid, conmonPid, bundle };
}

/** Creates the runtime container under conmon: CONFIGURED/STOPPED/EXITED → CREATED. */
export async function initLocked(engine: Engine, rec: ContainerRecord, opts: { keepRestartCount?: boolean } = {}): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "init");
  // Before the runtime is touched: a crash from here to the CREATED save
  // leaves a half-made runtime container that the next start deletes.
  await engine.store.setIntent(rec.id, initIntent());
  let launched: { pid: number; conmonPid: number; bundle: string };
  try {
    if (rec.state === S.CONTAINER_STATE_STOPPED) {
      // The old runtime container still exists: the seed's cleanup-then-reinit.
      await engine.runtime.delete(rec.id, true);
    }
    launched = await launchMonitor(engine, rec);
  } catch (err) {
    await undoInit(engine, rec).catch((undoErr: unknown) =>
      // The intent stays: the next start of hulld repairs what this could not.
      engine.deps.log.error({ err: undoErr, container: rec.id }, "undoing a failed init"),
    );
    throw err;
  }
  const saved = await saveWithIntent(engine, {
    ...freshRun(rec, launched),
    state: S.CONTAINER_STATE_CREATED,
    restartCount: opts.keepRestartCount ? rec.restartCount : 0,
  }, null);
  await engine.event("init", saved);
  return saved;
}

/** Refuses (DEPENDENCY_NOT_RUNNING) unless every dependency is running. */
export async function checkDependenciesRunning(engine: Engine, rec: ContainerRecord): Promise<void> {
  for (const depId of rec.dependencyIds) {
    const dep = await engine.store.getContainer(depId);
    if (!dep || dep.state !== S.CONTAINER_STATE_RUNNING) {
      const what = dep ? `${dep.name} (${depId.slice(0, 12)}) is ${stateName(dep.state)}` : `${depId.slice(0, 12)} no longer exists`;
      throw new HullError("DEPENDENCY_NOT_RUNNING", `container ${rec.id.slice(0, 12)} depends on container ${what}: start it first or start with recursive`, {
        container: rec.id,
        dependency: depId,
      });
    }
  }
}

/** The seed's start: init when needed, then run the process. */
export async function startLocked(engine: Engine, rec: ContainerRecord, opts: { keepRestartCount?: boolean } = {}): Promise<ContainerRecord> {
  if (checkOperation(rec.id, rec.state, "start") === "noop") return rec;
  await checkDependenciesRunning(engine, rec);
  let current = rec;
  if (current.state !== S.CONTAINER_STATE_CREATED) current = await initLocked(engine, current, opts);
  await engine.runtime.start(current.id);
  const saved = await engine.save({
    ...current,
    state: S.CONTAINER_STATE_RUNNING,
    startedAt: new Date().toISOString(),
    stoppedByUser: false,
  });
  await engine.event("start", saved);
  return saved;
}

/** The record of a container whose monitor and process were just launched: the last run's exit is gone. */
export function freshRun(rec: ContainerRecord, launched: { pid: number; conmonPid: number; bundle: string }): ContainerRecord {
  return {
    ...rec,
    pid: launched.pid,
    conmonPid: launched.conmonPid,
    exitCode: 0,
    exitSignal: 0,
    oomKilled: false,
    finishedAt: "",
    stateReason: "",
    bundlePath: launched.bundle,
  };
}

export async function killLocked(engine: Engine, rec: ContainerRecord, signal: string): Promise<ContainerRecord> {
  const signo = parseSignal(signal === "" ? "SIGKILL" : signal);
  checkOperation(rec.id, rec.state, "kill");
  // Write-ahead: the "stopped by user" mark is saved before the signal, so a
  // crash between the two cannot let a restart policy revive a killed container.
  const markedHere = !rec.stoppedByUser;
  if (markedHere) rec = await engine.save({ ...rec, stoppedByUser: true });
  try {
    await engine.runtime.kill(rec.id, signo, true);
  } catch (err) {
    // Nothing was signalled: the mark must not outlive the failed kill.
    if (markedHere) {
      const marked = rec;
      await engine.save({ ...marked, stoppedByUser: false }).catch((saveErr: unknown) => {
        engine.deps.log.error({ container: marked.id, err: saveErr }, "kill failed and its stopped-by-user mark could not be cleared");
      });
    }
    throw err;
  }
  // runc's kill --all freezes, signals and thaws the cgroup: a paused container comes out running (or exiting).
  const thawed = rec.state === S.CONTAINER_STATE_PAUSED && (await engine.runtime.state(rec.id))?.status !== "paused";
  const saved = await engine.save({ ...rec, stoppedByUser: true, ...(thawed ? { state: S.CONTAINER_STATE_RUNNING } : {}) });
  await engine.event("kill", saved, { signal: String(signo) });
  return saved;
}

export async function pauseLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "pause");
  await engine.runtime.pause(rec.id);
  const saved = await engine.save({ ...rec, state: S.CONTAINER_STATE_PAUSED });
  await engine.event("pause", saved);
  return saved;
}

export async function unpauseLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "unpause");
  await engine.runtime.resume(rec.id);
  const saved = await engine.save({ ...rec, state: S.CONTAINER_STATE_RUNNING });
  await engine.event("unpause", saved);
  return saved;
}

/** The seed's handleRestartPolicy decision, pure. */
export function shouldRestart(rec: ContainerRecord): boolean {
  if (rec.stoppedByUser) return false;
  const policy = rec.config.restartPolicy?.name ?? "";
  switch (policy) {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure": {
      const max = rec.config.restartPolicy?.maxRetries ?? 0;
      return rec.exitCode !== 0 && (max === 0 || rec.restartCount < max);
    }
    default:
      return false;
  }
}

/** Deletes the runtime container; STOPPED/CREATED/STOPPING → EXITED. */
async function cleanupRuntime(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  // A stop in flight: delete --force kills the process, whose exit must still be recorded, not lost.
  const waiter = rec.state === S.CONTAINER_STATE_STOPPING ? exitWaiter(engine, rec.id) : undefined;
  try {
    await engine.runtime.delete(rec.id, true);
    const code = await waiter?.wait(EXIT_AFTER_DELETE_MS);
    if (code !== undefined) rec = await engine.recordExit(rec, code);
  } finally {
    waiter?.cancel();
  }
  // The stop intent (if any) ends here: the process is gone and recorded.
  const saved = await saveWithIntent(engine, {
    ...rec,
    state: S.CONTAINER_STATE_EXITED,
    pid: 0,
    finishedAt: rec.finishedAt || new Date().toISOString(),
  }, null);
  await engine.event("cleanup", saved);
  // The runtime no longer holds the overlay; MountContainer's users may.
  if (saved.imageId !== undefined) await unmountRootfs(engine, saved);
  return saved;
}

/**
 * The seed's Cleanup: apply the restart policy, or tear the runtime container
 * down. Refuses while exec sessions are alive.
 */
export async function cleanupLocked(engine: Engine, rec: ContainerRecord, onlyStopped = false): Promise<{ rec: ContainerRecord; restarted: boolean }> {
  if (checkOperation(rec.id, rec.state, "cleanup") === "noop") return { rec, restarted: false };
  if (onlyStopped && rec.state !== S.CONTAINER_STATE_STOPPED) {
    throw new HullError("CONTAINER_STATE_INVALID", `container ${rec.id.slice(0, 12)} is ${stateName(rec.state)}, and cleanup was asked for stopped containers only`, {
      container: rec.id,
      state: stateName(rec.state),
    });
  }
  if (rec.state === S.CONTAINER_STATE_STOPPED && shouldRestart(rec)) {
    const restarted = await restartByPolicy(engine, rec);
    if (restarted) return { rec: restarted, restarted: true };
    rec = (await engine.store.getContainer(rec.id)) ?? rec;
  }
  const live = rec.execSessions.filter((s) => s.running);
  if (live.length > 0) {
    throw new HullError("EXEC_SESSIONS_ACTIVE", `container ${rec.id.slice(0, 12)} has ${live.length} active exec session(s), refusing to clean up`, { container: rec.id });
  }
  return { rec: await cleanupRuntime(engine, rec), restarted: false };
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
    engine.deps.log.warn({ container: rec.id, err }, "restart policy could not restart the container");
    const latest = (await engine.store.getContainer(rec.id)) ?? counted;
    await engine.save({ ...latest, stateReason: `restart policy failed: ${reason}` });
    return undefined;
  }
}
