// InitContainer: create the runtime container under its monitor, without
// starting the process (libpod's Init). CONFIGURED/STOPPED/EXITED → CREATED.
// A write-ahead intent covers the runtime work, so a crash leaves nothing
// that the next start of hulld cannot undo (undoInit).
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import { generateSpec, groupsOf } from "../oci/spec.js";
import { cgroupPathOf } from "../oci/spec-isolation.js";
import { readHostDevices, resolveDevices } from "../oci/host-devices.js";
import { seccompProfileFor } from "../oci/seccomp.js";
import { resolveUser } from "../oci/hostinfo.js";
import { writeBundle } from "../oci/bundle.js";
import { removeExitFile } from "../oci/exits.js";
import type { CreateRequest, Launched, MonitorProcess } from "../oci/runtime.js";
import type { Engine } from "../engine/engine.js";
import { initIntent } from "../engine/intents.js";
import { mountRootfs, unmountRootfs } from "./rootfs.js";
import { withImageVolumeSources } from "../images/image-volumes.js";
import { inSpan } from "../tracing.js";

const S = ContainerState;

export interface LaunchedContainer {
  pid: number;
  conmonPid: number;
  bundle: string;
  user: NonNullable<ContainerRecord["processUser"]>;
}

/** Everything before the runtime is called: root filesystem, spec, bundle, the last run's files gone. Returns the process's user. */
async function prepareBundle(engine: Engine, rec: ContainerRecord, bundle: string): Promise<Awaited<ReturnType<typeof resolveUser>>> {
  const { paths, hostLimits } = engine;
  // An image container's overlay goes up before anything reads its files; any container's image volumes before the runtime binds them.
  await mountRootfs(engine, rec);
  const user = await resolveUser(rec.rootfs, rec.config.user);
  const seccompProfile = await seccompProfileFor(rec.config.security);
  const hostDevices = rec.config.security?.privileged ? await readHostDevices() : undefined;
  // Stat'ed again at each init, not taken from create: a node's numbers are the host's now (a replugged device, a reboot).
  const devices = await resolveDevices(rec.config.devices);
  const cgroupsPath = cgroupPathOf(rec.id, rec.config);
  const config = { ...rec.config, mounts: withImageVolumeSources(engine.containerDir(rec.id), rec) };
  const spec = generateSpec({ id: rec.id, config, rootfs: rec.rootfs, user, hostLimits, cgroupsPath, seccompProfile, hostDevices, devices });
  // A log path outside the container's dir (the CRI's log_directory) may not exist yet: conmon creates only the file.
  await mkdir(dirname(rec.logPath), { recursive: true, mode: 0o755 });
  await writeBundle(bundle, spec);
  await removeExitFile(paths.exitDir, rec.id);
  await rm(join(paths.persistDir, rec.id), { recursive: true, force: true });
  await mkdir(join(paths.persistDir, rec.id), { recursive: true, mode: 0o700 });
  // The last run's deferred runtime delete (cleanup.ts) must not meet the new runtime container of the same id.
  await engine.teardowns.settle(rec.id);
  // A runtime container left over from a crash (or a failed deferred delete) would make create fail.
  if (await engine.runtime.exists(rec.id)) await engine.runtime.delete(rec.id, true);
  return user;
}

/**
 * Writes the bundle and has the runtime create the container under its
 * monitor (or, with restore, restore it from a CRIU image). Shared by init
 * and restore so both prepare a container the same way.
 */
export async function launchMonitor(engine: Engine, rec: ContainerRecord, restore?: CreateRequest["restore"]): Promise<LaunchedContainer> {
  const { paths } = engine;
  const bundle = engine.bundlePath(rec.id);
  const user = await inSpan("container.prepare", { "hull.container.id": rec.id }, () => prepareBundle(engine, rec, bundle));
  const launched: Launched = await engine.runtime.create({
    id: rec.id,
    name: rec.name,
    bundlePath: bundle,
    exitDir: paths.exitDir,
    persistDir: join(paths.persistDir, rec.id),
    logPath: rec.logPath,
    tty: rec.config.tty,
    stdin: rec.config.stdin,
    ...(restore ? { restore } : {}),
  });
  const groups = [...new Set([user.gid, ...(groupsOf(user, rec.config.security).additionalGids ?? [])])];
  return { pid: launched.pid, conmonPid: launched.monitorPid, bundle, user: { uid: user.uid, gid: user.gid, groups } };
}

/** The record of a container whose monitor and process were just launched: the last run's exit is gone. */
export function freshRun(rec: ContainerRecord, launched: LaunchedContainer): ContainerRecord {
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
    processUser: launched.user,
  };
}

/** Init under the container's lock (the caller holds it, or a batch does). */
export async function initLocked(engine: Engine, rec: ContainerRecord, opts: { keepRestartCount?: boolean } = {}): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "init");
  // Before the runtime is touched: a crash from here to the CREATED save
  // leaves a half-made runtime container that the next start deletes.
  await engine.store.setIntent(rec.id, initIntent());
  let launched: LaunchedContainer;
  try {
    // The old runtime container of a stopped one still exists: delete, then create anew (libpod's cleanup-then-init).
    if (rec.state === S.CONTAINER_STATE_STOPPED) await engine.runtime.delete(rec.id, true);
    launched = await launchMonitor(engine, rec);
  } catch (err) {
    await undoInit(engine, rec).catch((undoErr: unknown) =>
      // The intent stays: the next start of hulld repairs what this could not.
      engine.log.error({ err: undoErr, container: rec.id }, "undoing a failed init"),
    );
    throw err;
  }
  const saved = await engine.saveWithIntent(
    { ...freshRun(rec, launched), state: S.CONTAINER_STATE_CREATED, restartCount: opts.keepRestartCount ? rec.restartCount : 0 },
    null,
  );
  await engine.event("init", saved);
  return saved;
}

/**
 * Deletes id's runtime container (delete --force kills its processes), lets
 * its monitors exit (killed after a grace) and drops the exit file and the
 * monitor's files they may have left.
 */
export async function deleteRuntimeLeftovers(engine: Engine, id: string, monitors?: MonitorProcess[]): Promise<void> {
  const found = monitors ?? (await engine.runtime.monitors()).filter((m) => m.containerId === id);
  await engine.runtime.delete(id, true);
  await engine.runtime.endMonitors(found.map((m) => m.pid));
  await removeExitFile(engine.paths.exitDir, id);
  await engine.runtime.removeMonitorFiles(id);
}

/**
 * Undoes an init that did not reach its CREATED save: the half-made runtime
 * container, its monitor and (where nothing else holds it) the overlay go;
 * the record stays in the state it had before the init, and the init intent
 * is cleared. Caller holds the lock.
 */
export async function undoInit(engine: Engine, rec: ContainerRecord): Promise<void> {
  try {
    await deleteRuntimeLeftovers(engine, rec.id);
    await unmountRootfs(engine, rec);
    await engine.store.setIntent(rec.id, null);
  } catch (err) {
    throw new HullError(
      "INTERNAL",
      `undoing the cut init of container ${rec.id.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`,
      { container: rec.id },
      { cause: err },
    );
  }
}
