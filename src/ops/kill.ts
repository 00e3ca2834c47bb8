// KillContainer: a signal to every process of the container (runc kill
// --all), marked as the user's doing so no restart policy undoes it.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { checkOperation } from "../statemachine/states.js";
import { parseSignal } from "../domain/signals.js";
import type { Engine } from "../engine/engine.js";

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
        engine.log.error({ container: marked.id, err: saveErr }, "kill failed and its stopped-by-user mark could not be cleared");
      });
    }
    throw err;
  }
  // runc's kill --all freezes, signals and thaws the cgroup: a paused container comes out running (or exiting).
  const thawed = rec.state === ContainerState.CONTAINER_STATE_PAUSED && (await engine.runtime.state(rec.id))?.status !== "paused";
  const saved = await engine.save({ ...rec, stoppedByUser: true, ...(thawed ? { state: ContainerState.CONTAINER_STATE_RUNNING } : {}) });
  await engine.event("kill", saved, { signal: String(signo) });
  return saved;
}

export function killContainer(engine: Engine, ref: string, signal: string): Promise<ContainerRecord> {
  return engine.locked(ref, "kill", (rec) => killLocked(engine, rec, signal));
}
