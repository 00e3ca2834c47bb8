// Checkpoint and restore (the seed's Checkpoint / Restore) through the OCI
// runtime and CRIU. A checkpoint dumps the processes into
// <container dir>/checkpoint and, with a target file, writes the archive
// (images/checkpoint-archive.ts). A restore starts the container again from a CRIU
// image under conmon (`conmon --restore`), either the container's own kept
// image or an archive, which may create the container (on a fresh hulld, or
// under a new name).
import { randomBytes } from "node:crypto";
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError, invalidArgument } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import { extractCheckpointArchive, readCheckpointManifest, writeCheckpointArchive } from "../images/checkpoint-archive.js";
import type { Engine } from "../engine/engine.js";
import type { ExitWaiter } from "../engine/exit-waiter.js";
import { createContainer } from "./create.js";
import { checkDependenciesRunning } from "./dependencies.js";
import { freshRun, launchMonitor } from "./init.js";
import { KILL_GRACE_MS } from "./stop.js";
import { removeContainer } from "./remove.js";

const S = ContainerState;

export interface CheckpointRequest {
  keep: boolean;
  keepRunning: boolean;
  tcpEstablished: boolean;
  /** Absolute host path, or "" to keep the image in the container's dir only. */
  targetFile: string;
  ignoreRootfs: boolean;
}

export interface RestoreRequest {
  keep: boolean;
  tcpEstablished: boolean;
  ignoreRootfs: boolean;
}

/** Where a container's CRIU image lives between checkpoint and restore. */
export function imageDir(engine: Engine, id: string): string {
  return join(engine.containerDir(id), "checkpoint");
}

/** Where a restored container's archived root filesystem is laid down. */
export function restoredRootfsDir(engine: Engine, id: string): string {
  return join(engine.containerDir(id), "rootfs");
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Checkpoints a running container; it ends EXITED unless keepRunning. */
export async function checkpointContainer(engine: Engine, ref: string, req: CheckpointRequest): Promise<ContainerRecord> {
  const id = await engine.resolve(ref);
  let waiter: ExitWaiter | undefined;
  try {
    return await engine.withLock(id, "checkpoint", async (rec) => {
      checkOperation(rec.id, rec.state, "checkpoint");
      // Subscribed before the dump (the exit CRIU causes is never missed) and after the sync (an earlier run's exit is never taken for it).
      const exit = (waiter = engine.exitWaiter(id));
      const live = rec.execSessions.filter((s) => s.running);
      if (live.length > 0) {
        throw new HullError("EXEC_SESSIONS_ACTIVE", `container ${rec.id.slice(0, 12)} has ${live.length} active exec session(s): they cannot be checkpointed`, {
          container: rec.id,
        });
      }
      if (req.targetFile !== "" && !req.ignoreRootfs && rec.config.image !== "") {
        // Image containers' changes live in an overlay upper dir this archive format does not carry yet.
        throw invalidArgument(
          "ignore_rootfs",
          `container ${rec.id.slice(0, 12)} runs from image ${rec.config.image}: archiving its filesystem changes is not supported yet; set ignore_rootfs`,
        );
      }
      const dir = imageDir(engine, id);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await engine.runtime.checkpoint(id, { imagePath: dir, workPath: dir, leaveRunning: req.keepRunning, tcpEstablished: req.tcpEstablished });
      let current = rec;
      if (!req.keepRunning) current = await settleCheckpointed(engine, rec, await exit.wait(KILL_GRACE_MS));
      if (req.targetFile !== "") {
        await writeCheckpointArchive({
          target: req.targetFile,
          manifest: manifestOf(current, engine.runtime.name),
          criuDir: dir,
          ...(req.ignoreRootfs ? {} : { rootfsDir: current.rootfs }),
        });
        if (!req.keep) await rm(dir, { recursive: true, force: true });
      }
      const attrs: Record<string, string> = { keepRunning: String(req.keepRunning) };
      if (req.targetFile !== "") attrs.targetFile = req.targetFile;
      await engine.event("checkpoint", current, attrs);
      return current;
    });
  } finally {
    waiter?.cancel();
  }
}

/**
 * After CRIU stopped the processes: the runtime container goes and the record
 * is EXITED and stopped by the user, so no restart policy brings it back.
 */
async function settleCheckpointed(engine: Engine, rec: ContainerRecord, code: number | undefined): Promise<ContainerRecord> {
  if (code === undefined) {
    throw new HullError("INTERNAL", `container ${rec.id.slice(0, 12)} was checkpointed but its monitor reported no exit within ${KILL_GRACE_MS / 1000}s`, {
      container: rec.id,
    });
  }
  await engine.runtime.delete(rec.id, true);
  return engine.save({
    ...rec,
    state: S.CONTAINER_STATE_EXITED,
    pid: 0,
    exitCode: 0,
    exitSignal: 0,
    stoppedByUser: true,
    finishedAt: new Date().toISOString(),
    stateReason: "checkpointed",
  });
}

export function manifestOf(rec: ContainerRecord, runtime: string): Parameters<typeof writeCheckpointArchive>[0]["manifest"] {
  return {
    version: 1,
    id: rec.id,
    name: rec.name,
    restartCount: rec.restartCount,
    config: rec.config,
    hasCriuImage: false,
    rootfs: "none",
    createdAt: new Date().toISOString(),
    runtime,
  };
}

/** Restores an existing container from the image its last checkpoint kept. */
export async function restoreInPlace(engine: Engine, ref: string, req: RestoreRequest): Promise<ContainerRecord> {
  return engine.locked(ref, "restore", async (rec) => {
    checkOperation(rec.id, rec.state, "restore");
    const dir = imageDir(engine, rec.id);
    if (!(await exists(join(dir, "inventory.img")))) {
      throw new HullError(
        "CONTAINER_STATE_INVALID",
        `container ${rec.id.slice(0, 12)} has no kept checkpoint to restore: checkpoint it first (without target_file, or with keep), or restore from an archive`,
        { container: rec.id },
      );
    }
    return restoreLocked(engine, rec, dir, req);
  });
}

/**
 * Restores from an archive: creates the container (under name, else the
 * archived name, keeping the archived id where it is free), lays down its
 * root filesystem, then restores the processes. A failure removes what it made.
 */
export async function restoreFromArchive(engine: Engine, target: string, name: string, req: RestoreRequest): Promise<ContainerRecord> {
  const manifest = await readCheckpointManifest(target);
  if (!manifest.hasCriuImage) {
    throw new HullError("CONTAINER_STATE_INVALID", `archive "${target}" holds no CRIU image: it cannot be restored`, { target });
  }
  const rec = await createFromArchive(engine, target, manifest, name, { criu: true, ignoreRootfs: req.ignoreRootfs });
  try {
    return await engine.withLock(rec.id, "restore", (current) => {
      // A StartContainer by name may have slipped in since the create.
      checkOperation(current.id, current.state, "restore");
      return restoreLocked(engine, current, imageDir(engine, rec.id), req);
    });
  } catch (err) {
    await removeContainer(engine, rec.id, true, 0).catch((cleanupErr: unknown) =>
      engine.log.error({ err: cleanupErr, container: rec.id }, "removing a container whose restore failed"),
    );
    throw err;
  }
}

/**
 * The archive-format half of a restore, without CRIU: a new CONFIGURED
 * container from the archive's config, its rootfs (unless ignored or absent)
 * unpacked into the container's dir and used instead of rootfs_path, and
 * with criu the image unpacked beside it.
 */
export async function createFromArchive(
  engine: Engine,
  target: string,
  manifest: Awaited<ReturnType<typeof readCheckpointManifest>>,
  name: string,
  opts: { criu: boolean; ignoreRootfs: boolean },
): Promise<ContainerRecord> {
  const newName = name !== "" ? name : manifest.name;
  const idFree = name === "" && /^[0-9a-f]{64}$/.test(manifest.id) && !(await engine.store.getContainer(manifest.id));
  const id = idFree ? manifest.id : randomBytes(32).toString("hex");
  const useRootfs = manifest.rootfs === "full" && !opts.ignoreRootfs;
  const dir = engine.containerDir(id);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await extractCheckpointArchive(target, {
      ...(opts.criu ? { criuDir: imageDir(engine, id) } : {}),
      ...(useRootfs ? { rootfsDir: restoredRootfsDir(engine, id) } : {}),
    });
    const rec = await createContainer(
      engine,
      { ...manifest.config, name: newName },
      {
        id,
        restartCount: manifest.restartCount,
        ...(useRootfs ? { rootfs: restoredRootfsDir(engine, id) } : {}),
      },
    );
    return rec;
  } catch (err) {
    // createContainer removes the dir itself when the store refuses; this covers the extraction.
    if (!(await engine.store.getContainer(id))) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Like initLocked + start, but the runtime restores the processes from dir. */
async function restoreLocked(engine: Engine, rec: ContainerRecord, dir: string, req: RestoreRequest): Promise<ContainerRecord> {
  await checkDependenciesRunning(engine, rec);
  const launched = await launchMonitor(engine, rec, {
    imagePath: dir,
    runtimeOpts: req.tcpEstablished ? ["--tcp-established"] : [],
  });
  const saved = await engine.save({
    ...freshRun(rec, launched),
    state: S.CONTAINER_STATE_RUNNING,
    startedAt: new Date().toISOString(),
    stoppedByUser: false,
  });
  if (!req.keep) await rm(dir, { recursive: true, force: true });
  await engine.event("restore", saved);
  return saved;
}
