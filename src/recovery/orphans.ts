// Leftovers of containers hulld has no record of: a runtime container under
// hulld's runtime root, a conmon naming hulld's dirs, an overlay mount or a
// file or directory under its roots. A create cut before its record was
// written leaves its container dir; a store restored from a backup or edited
// by hand leaves everything. Nothing could ever clean them through the API,
// so they are found at start (no operation is in flight then), logged at
// warn with the ids, and removed.
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ContainerRecord } from "../store/record.js";
import type { Engine } from "../engine/engine.js";
import type { HostView } from "./survey.js";
import { unmountPath } from "./host-mounts.js";

const HULL_ID = /^[0-9a-f]{64}$/;

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
}

/** The id a path under one of hulld's per-container dirs belongs to. */
function ownerOf(path: string, perContainerDirs: string[]): string | undefined {
  for (const dir of perContainerDirs) {
    if (path.startsWith(`${dir}/`)) return path.slice(dir.length + 1).split("/")[0];
  }
  return undefined;
}

/** Finds and removes every leftover with no record; returns the ids. */
export async function sweepOrphans(engine: Engine, records: ContainerRecord[], host: HostView): Promise<string[]> {
  const { paths, log } = engine;
  const known = new Set(records.map((r) => r.id));
  // conmon names an exec session's attach socket after the session.
  const sessions = new Set(records.flatMap((r) => r.execSessions.map((s) => s.id)));
  const found = new Map<string, Set<string>>();
  const note = (id: string | undefined, what: string): void => {
    if (id === undefined || id === "" || known.has(id)) return;
    found.set(id, (found.get(id) ?? new Set()).add(what));
  };

  for (const id of host.runtime?.keys() ?? []) note(id, "runtime container");
  for (const m of host.allMonitors) note(m.containerId, m.exec ? "exec conmon" : "conmon");
  const perContainer = [paths.containersDir, paths.bundlesDir, paths.persistDir];
  for (const m of host.mounts) note(ownerOf(m, perContainer), "mount");
  for (const id of await names(paths.containersDir)) note(id, "container dir");
  for (const id of await names(paths.bundlesDir)) note(id, "bundle");
  for (const id of await names(paths.persistDir)) note(id, "persist dir");
  // conmon writes "<id>.XXXXXX" then renames: leave names that are not plain ids (a write in flight).
  for (const id of await names(paths.exitDir)) if (HULL_ID.test(id)) note(id, "exit file");
  for (const id of await names(paths.socketDir)) if (!sessions.has(id)) note(id, "socket link");

  for (const [id, what] of found) {
    log.warn({ container: id, found: [...what] }, "removing the leftovers of a container hulld has no record of");
    try {
      await removeOrphan(engine, id, host);
    } catch (err) {
      log.error({ err, container: id }, "removing an orphan container's leftovers");
    }
  }
  return [...found.keys()];
}

async function removeOrphan(engine: Engine, id: string, host: HostView): Promise<void> {
  const { paths } = engine;
  // --force kills its processes first; the monitors then exit by themselves.
  if (host.runtime?.has(id)) await engine.runtime.delete(id, true);
  await engine.runtime.endMonitors(host.allMonitors.filter((m) => m.containerId === id).map((m) => m.pid));
  const dirs = [join(paths.containersDir, id), join(paths.bundlesDir, id), join(paths.persistDir, id)];
  // Deepest first (mountsUnder's order); rm must never descend into a mounted overlay.
  for (const m of host.mounts) if (dirs.some((d) => m === d || m.startsWith(`${d}/`))) await unmountPath(m);
  for (const p of [...dirs, join(paths.exitDir, id), join(paths.socketDir, id)]) await rm(p, { recursive: true, force: true });
}
