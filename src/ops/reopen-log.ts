// ReopenContainerLog (the kubelet's log rotation): after the kubelet renames
// the log file away, the container's monitor (conmon) is told to reopen its
// log path, so new output goes to a fresh file and nothing is lost. conmon
// reopens asynchronously; as CRI-O does, the call answers only once the new
// file is there, so a caller that looks right after finds it.
import { access } from "node:fs/promises";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

const REOPEN_WAIT_MS = 5000;
const POLL_MS = 10;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export function reopenContainerLog(engine: Engine, ref: string): Promise<void> {
  return engine.locked(ref, "reopen-log", async (rec) => {
    checkOperation(rec.id, rec.state, "reopen-log");
    await engine.runtime.reopenLog(rec.id, rec.bundlePath);
    const deadline = Date.now() + REOPEN_WAIT_MS;
    while (!(await exists(rec.logPath))) {
      if (Date.now() > deadline)
        throw new HullError("RUNTIME_ERROR", `container ${rec.id.slice(0, 12)}: its monitor did not reopen ${rec.logPath} within ${REOPEN_WAIT_MS / 1000}s`, {
          container: rec.id,
        });
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  });
}
