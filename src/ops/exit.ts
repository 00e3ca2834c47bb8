// What conmon's exit command does for Podman: when a container's process
// exits (its exit file appears), record it and run cleanup, which applies
// the restart policy.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { cleanupLocked } from "./cleanup.js";
import { endExecSessionsLocked } from "./exec.js";
import { inSpan } from "../tracing.js";

/** The exit handler's work once it holds the lock: exec sessions ended, then cleanup. */
export async function exitCleanupLocked(engine: Engine, rec: ContainerRecord): Promise<ContainerRecord> {
  if (rec.state !== ContainerState.CONTAINER_STATE_STOPPED) return rec;
  return (await cleanupLocked(engine, await endExecSessionsLocked(engine, rec))).rec;
}

/** Runs after each exit file appears; never throws (it has no caller to tell). */
export async function handleExit(engine: Engine, id: string): Promise<void> {
  try {
    // Exec processes die with the container's pid namespace: let their sessions record it first.
    await inSpan("container.exit", { "hull.container.id": id }, async () => {
      await engine.execs.settle(id);
      await engine.withLock(id, "exit", (rec) => exitCleanupLocked(engine, rec));
    });
  } catch (err) {
    if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return;
    engine.log.error({ err, container: id }, "handling the container's exit");
  }
}
