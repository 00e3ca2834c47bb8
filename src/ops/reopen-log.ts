// ReopenContainerLog (the kubelet's log rotation): after the kubelet renames
// the log file away, the container's monitor (conmon) is told to reopen its
// log path, so new output goes to a fresh file and nothing is lost.
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

export function reopenContainerLog(engine: Engine, ref: string): Promise<void> {
  return engine.locked(ref, "reopen-log", async (rec) => {
    checkOperation(rec.id, rec.state, "reopen-log");
    await engine.runtime.reopenLog(rec.id, rec.bundlePath);
  });
}
