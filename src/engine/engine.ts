// The container engine: what libpod's Container methods are to Podman.
// Handlers call it; it owns the lock table, the sync from the store, saving
// with notifications, and the event history. The operations themselves live
// beside it (operations.ts, stop.ts, wait.ts, create.ts, remove.ts).
import { join } from "node:path";
import type { Logger } from "pino";
import { inSpan } from "../tracing.js";
import { Event } from "../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import type { StateStore } from "../store/store.js";
import type { OciRuntime } from "../oci/runtime.js";
import type { HostLimits } from "../oci/spec.js";
import { readExitFile, wasOomKilled, type ExitWatcher } from "../oci/exits.js";
import { HullError, wrapError } from "../errors.js";
import { mayHaveExited } from "../statemachine/states.js";
import { LockTable } from "./locks.js";
import { StateBus } from "./bus.js";
import { imageStoreOf } from "../ops/images.js";

export interface EnginePaths {
  /** State root: the store and per-container persistent dirs (logs, artifacts). */
  root: string;
  /** Run root: bundles, exit files, sockets, the runtime's own state. */
  runRoot: string;
  exitDir: string;
  persistDir: string;
  bundlesDir: string;
  socketDir: string;
  containersDir: string;
  runtimeRoot: string;
}

export function enginePaths(root: string, runRoot: string): EnginePaths {
  return {
    root,
    runRoot,
    exitDir: join(runRoot, "exits"),
    persistDir: join(runRoot, "persist"),
    bundlesDir: join(runRoot, "bundles"),
    // conmon puts attach sockets under this dir: keep it short (108-byte sun_path).
    socketDir: join(runRoot, "s"),
    containersDir: join(root, "containers"),
    runtimeRoot: join(runRoot, "runc"),
  };
}

export interface EngineDeps {
  store: StateStore;
  runtime: OciRuntime;
  exits: ExitWatcher;
  paths: EnginePaths;
  hostLimits: HostLimits;
  log: Logger;
  conmonBinary?: string;
}

/** Exit statuses above 128 mean death by signal (status - 128), as conmon reports them. */
export function signalOfExitCode(code: number): number {
  return code > 128 && code <= 128 + 64 ? code - 128 : 0;
}

export class Engine {
  readonly locks = new LockTable();
  readonly bus = new StateBus();

  constructor(readonly deps: EngineDeps) {}

  get store(): StateStore {
    return this.deps.store;
  }

  get runtime(): OciRuntime {
    return this.deps.runtime;
  }

  bundlePath(id: string): string {
    return join(this.deps.paths.bundlesDir, id);
  }

  containerDir(id: string): string {
    return join(this.deps.paths.containersDir, id);
  }

  resolve(ref: string): Promise<string> {
    return this.store.resolveContainer(ref);
  }

  /** An image's id from its id, id prefix or reference (the Events filter takes images too). */
  async resolveImage(ref: string): Promise<string> {
    return (await imageStoreOf(this)).resolve(ref).id;
  }

  /**
   * Resolves ref, takes the container's lock, syncs it and runs fn; errors
   * come out wrapped with the container id and the operation.
   */
  async locked<T>(ref: string, operation: string, fn: (rec: ContainerRecord) => Promise<T>): Promise<T> {
    const id = await this.resolve(ref);
    return this.withLock(id, operation, fn);
  }

  async withLock<T>(id: string, operation: string, fn: (rec: ContainerRecord) => Promise<T>): Promise<T> {
    try {
      return await this.locks.with(id, async () => fn(await this.sync(id)));
    } catch (err) {
      throw wrapError(err, id, operation);
    }
  }

  /**
   * The seed's syncContainer: re-read the record, and where the process may
   * have exited, look for its exit file and record the exit. Caller holds the lock.
   */
  async sync(id: string): Promise<ContainerRecord> {
    return inSpan("container.sync", { "hull.container.id": id }, async () => {
      const rec = await this.store.getContainer(id);
      if (!rec) throw new HullError("CONTAINER_NOT_FOUND", `container ${id.slice(0, 12)} was removed`, { container: id });
      if (!mayHaveExited(rec.state)) return rec;
      const code = await readExitFile(this.deps.paths.exitDir, id);
      if (code === undefined) return rec;
      return this.recordExit(rec, code);
    });
  }

  /** Saves the exit of the container's process: STOPPED, code, time, OOM. */
  async recordExit(rec: ContainerRecord, code: number): Promise<ContainerRecord> {
    const oom = await wasOomKilled(this.deps.paths.persistDir, rec.id);
    const saved = await this.save({
      ...rec,
      state: ContainerState.CONTAINER_STATE_STOPPED,
      exitCode: code,
      exitSignal: signalOfExitCode(code),
      oomKilled: oom,
      pid: 0,
      finishedAt: new Date().toISOString(),
    });
    const attrs: Record<string, string> = { exitCode: String(code) };
    // Why it ended, when the code alone does not say: the killing signal, the OOM killer.
    if (saved.exitSignal > 0) attrs.signal = String(saved.exitSignal);
    if (oom) attrs.oomKilled = "true";
    await this.event("exit", saved, attrs);
    return saved;
  }

  /** Saves the record and tells waiters. */
  async save(rec: ContainerRecord): Promise<ContainerRecord> {
    const saved = await this.store.saveContainer(rec);
    this.bus.publish(saved);
    return saved;
  }

  /** Appends a lifecycle event to the bounded history. Never fails the operation it reports. */
  async event(type: string, rec: ContainerRecord, attributes: Record<string, string> = {}): Promise<void> {
    try {
      const stored = await this.store.appendEvent(
        Event.fromPartial({ time: new Date(), type, containerId: rec.id, containerName: rec.name, attributes, state: rec.state }),
      );
      this.bus.publishEvent(stored);
    } catch (err) {
      // The operation itself succeeded; losing one history entry is logged, not hidden.
      this.deps.log.error({ err, container: rec.id, type }, "could not store event");
    }
  }
}
