// The container engine: what libpod's Runtime and Container plumbing are to
// Podman. It owns the per-container locks, the sync of a record from the
// store (reading the exit file where the process may have exited), saving
// with notifications, and the event history. Everything an operation needs
// comes in as an explicit dependency; the operations themselves are in
// src/ops/, one file per verb.
import { join } from "node:path";
import type { Logger } from "pino";
import { inSpan } from "../tracing.js";
import { Event } from "../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord, type OperationIntent } from "../store/record.js";
import type { StateStore } from "../store/store.js";
import type { Runtime } from "../oci/runtime.js";
import type { HostLimits } from "../oci/spec.js";
import { readExitFile, wasOomKilled, type ExitWatcher } from "../oci/exits.js";
import type { ImageStore } from "../images/image-store.js";
import type { RegistriesConfig } from "../images/registries-conf.js";
import { HullError, wrapError } from "../errors.js";
import { signalOfExitCode } from "../domain/exit-status.js";
import { ALL_OPERATIONS, checkOperation, mayHaveExited, type Operation } from "../statemachine/states.js";
import { LockTable } from "./locks.js";
import { StateBus } from "./bus.js";
import { exitWaiter, type ExitWaiter } from "./exit-waiter.js";
import { ExecTracker } from "./exec-tracker.js";
import { Teardowns } from "./teardowns.js";
import type { EnginePaths } from "./paths.js";
import type { PodEnvironment } from "../network/pod-env.js";

export { enginePaths, type EnginePaths } from "./paths.js";

export interface EngineDeps {
  store: StateStore;
  runtime: Runtime;
  exits: ExitWatcher;
  images: ImageStore;
  /** Mirrors and rewrites every pull goes through (--registries-conf). */
  registries: RegistriesConfig;
  /** Namespace pinning, pod networks and the pause image, for the CRI's pods. */
  pods: PodEnvironment;
  paths: EnginePaths;
  hostLimits: HostLimits;
  log: Logger;
}

export type ImageEventType = "image_import" | "image_pull" | "image_tag" | "image_remove";

/** How long a refused runtime call waits for the exit file of a process the runtime says is gone. */
const REFUSAL_EXIT_WAIT_MS = 2000;

function isOperation(name: string): name is Operation {
  return (ALL_OPERATIONS as readonly string[]).includes(name);
}

export class Engine {
  readonly store: StateStore;
  readonly runtime: Runtime;
  readonly exits: ExitWatcher;
  readonly images: ImageStore;
  readonly registries: RegistriesConfig;
  readonly pods: PodEnvironment;
  readonly paths: EnginePaths;
  readonly hostLimits: HostLimits;
  readonly log: Logger;
  readonly locks = new LockTable();
  readonly bus = new StateBus();
  /** Exec sessions this hulld watches: the exit handler lets them record their end first. */
  readonly execs = new ExecTracker();
  /** Runtime deletes and file removal done after the client is answered (see teardowns.ts). */
  readonly teardowns: Teardowns;
  /** Exports reading a container's root filesystem right now, by container id (not in the record: they die with hulld). */
  readonly rootfsReaders = new Map<string, number>();
  /** Image events whose store write is under way: an image operation answers only once they are stored. */
  private readonly pendingImageEvents = new Set<Promise<void>>();

  constructor(deps: EngineDeps) {
    this.store = deps.store;
    this.runtime = deps.runtime;
    this.exits = deps.exits;
    this.images = deps.images;
    this.registries = deps.registries;
    this.pods = deps.pods;
    this.paths = deps.paths;
    this.hostLimits = deps.hostLimits;
    this.log = deps.log;
    this.teardowns = new Teardowns(deps.log);
    this.images.onTagsRemoved = (change) => {
      for (const tag of change.removed) {
        const stored = this.imageEvent("image_tag", change.imageId, { reference: tag, name: tag, action: "untag", tags: change.tags.join(",") });
        this.pendingImageEvents.add(stored);
        void stored.finally(() => this.pendingImageEvents.delete(stored));
      }
    };
  }

  bundlePath(id: string): string {
    return join(this.paths.bundlesDir, id);
  }

  containerDir(id: string): string {
    return join(this.paths.containersDir, id);
  }

  resolve(ref: string): Promise<string> {
    return this.store.resolveContainer(ref);
  }

  /** An image's id from its id, id prefix or reference (the Events filter takes images too). */
  resolveImage(ref: string): string {
    return this.images.resolve(ref).id;
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
      return await this.locks.with(id, async () => {
        const rec = await this.sync(id);
        try {
          return await fn(rec);
        } catch (err) {
          throw await this.explainRefusal(id, operation, err);
        }
      });
    } catch (err) {
      throw wrapError(err, id, operation);
    }
  }

  /**
   * The record as it is now: re-read it, and where the process may have
   * exited, look for its exit file and record the exit. Caller holds the lock.
   */
  async sync(id: string): Promise<ContainerRecord> {
    return inSpan("container.sync", { "hull.container.id": id }, async () => {
      const rec = await this.store.getContainer(id);
      if (!rec) throw new HullError("CONTAINER_NOT_FOUND", `container ${id.slice(0, 12)} was removed`, { container: id });
      if (!mayHaveExited(rec.state)) return rec;
      const code = await readExitFile(this.paths.exitDir, id);
      if (code === undefined) return rec;
      return this.recordExit(rec, code);
    });
  }

  /**
   * The state was checked, then the process exited and the runtime refused
   * (`runc pause`: "container not running"). Such a refusal is the state
   * table's to answer, as libpod answers ErrCtrStateInvalid, never INTERNAL:
   * when the runtime says the process is gone, the exit is recorded (its
   * file follows within moments) and the operation is checked again.
   * Caller holds the lock.
   */
  async explainRefusal(id: string, operation: string, err: unknown): Promise<unknown> {
    if (!(err instanceof HullError && err.reason === "RUNTIME_ERROR") || !isOperation(operation)) return err;
    const rec = await this.store.getContainer(id);
    if (!rec || !mayHaveExited(rec.state)) return err;
    const seen = await this.runtime.state(id).catch(() => "unreadable" as const);
    if (seen === "unreadable" || (seen !== undefined && seen.status !== "stopped")) return err;
    const waiter = this.exitWaiter(id);
    let state = ContainerState.CONTAINER_STATE_STOPPED;
    try {
      const code = await waiter.wait(REFUSAL_EXIT_WAIT_MS);
      if (code !== undefined) state = (await this.recordExit(rec, code)).state;
    } finally {
      waiter.cancel();
    }
    try {
      checkOperation(id, state, operation);
    } catch (stateErr) {
      if (stateErr instanceof HullError) {
        this.log.debug({ container: id, operation, runtimeError: err.message }, "a runtime refusal explained by the process's exit");
        return stateErr;
      }
    }
    return err;
  }

  /** Subscribes to the container's exit, then looks for its exit file (see exit-waiter.ts). */
  exitWaiter(id: string): ExitWaiter {
    return exitWaiter(this.exits, this.paths.exitDir, id, this.log);
  }

  /** Saves the exit of the container's process: STOPPED, code, time, OOM. */
  async recordExit(rec: ContainerRecord, code: number): Promise<ContainerRecord> {
    const oom = await wasOomKilled(this.paths.persistDir, rec.id);
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

  /** save() with the container's write-ahead intent written (or, with null, deleted) in the same batch (see intents.ts). */
  async saveWithIntent(rec: ContainerRecord, intent: OperationIntent | null): Promise<ContainerRecord> {
    const saved = await this.store.saveContainer(rec, { intent });
    this.bus.publish(saved);
    return saved;
  }

  /** Appends a lifecycle event to the bounded history. Never fails the operation it reports. */
  async event(type: string, rec: ContainerRecord, attributes: Record<string, string> = {}): Promise<void> {
    // A pod's containers name their pod: a removal's event is all that is left of them (the CRI's DELETED event needs it).
    const pod = rec.config.pod;
    const withPod = pod ? { ...attributes, pod: pod.id, ...(pod.infra ? { infra: "true" } : {}) } : attributes;
    try {
      const stored = await this.store.appendEvent(
        Event.fromPartial({ time: new Date(), type, containerId: rec.id, containerName: rec.name, attributes: withPod, state: rec.state }),
      );
      this.bus.publishEvent(stored);
    } catch (err) {
      // The operation itself succeeded; losing one history entry is logged, not hidden.
      this.log.error({ err, container: rec.id, type }, "could not store event");
    }
  }

  /** Appends an image event (container_id empty, image_id set). Never fails the operation it reports. */
  async imageEvent(type: ImageEventType, imageId: string, attributes: Record<string, string> = {}): Promise<void> {
    try {
      const stored = await this.store.appendEvent(Event.fromPartial({ time: new Date(), type, imageId, attributes }));
      this.bus.publishEvent(stored);
    } catch (err) {
      this.log.error({ err, image: imageId, type }, "could not store image event");
    }
  }

  /** Waits for image events raised inside the image store (untagging) to be stored. */
  async settleImageEvents(): Promise<void> {
    await Promise.all([...this.pendingImageEvents]);
  }
}
