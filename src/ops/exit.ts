// What conmon's exit command does for Podman: when a container's process
// exits, record it and run cleanup, which applies the restart policy.
import { ContainerState } from "../store/record.js";
import { HullError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { cleanupLocked } from "./operations.js";
import { endExecSessionsLocked, settleExecSessions } from "./exec.js";

const S = ContainerState;

/** Runs after each exit file appears; never throws (it has no caller to tell). */
export async function handleExit(engine: Engine, id: string): Promise<void> {
  try {
    // Exec processes die with the container's pid namespace: let their sessions record it first.
    await settleExecSessions(engine, id);
    await engine.withLock(id, "exit", async (rec) => {
      if (rec.state === S.CONTAINER_STATE_STOPPED) await cleanupLocked(engine, await endExecSessionsLocked(engine, rec));
    });
  } catch (err) {
    if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return;
    engine.deps.log.error({ err, container: id }, "handling the container's exit");
  }
}

// Recovery at start lives in recovery.ts; daemon.ts reaches it through here.
export { recoverAll } from "../recovery/recovery.js";
