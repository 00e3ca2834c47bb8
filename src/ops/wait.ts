// The seed's Wait and WaitForConditionWithInterval, driven by state
// notifications instead of an interval: subscribe first, then look.
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError, wrapError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

const S = ContainerState;

export interface WaitResult {
  exitCode: number;
  state: ContainerState;
}

function hasExited(state: ContainerState): boolean {
  return state === S.CONTAINER_STATE_STOPPED || state === S.CONTAINER_STATE_EXITED;
}

/**
 * Without a condition: returns at once for a container that is not running
 * (its last exit code), else at its next exit, even when a restart policy
 * starts it again right after. With a condition: when the state is reached.
 */
export async function waitContainer(engine: Engine, ref: string, condition: ContainerState | undefined, abort: AbortSignal): Promise<WaitResult> {
  const id = await engine.resolve(ref);
  const satisfied = (rec: ContainerRecord): boolean => (condition === undefined ? hasExited(rec.state) : rec.state === condition);
  return new Promise<WaitResult>((resolve, reject) => {
    let done = false;
    const finish = (result: WaitResult | Error): void => {
      if (done) return;
      done = true;
      unsubscribe();
      abort.removeEventListener("abort", onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onAbort = (): void => finish(new HullError("DEADLINE_EXCEEDED", `wait for container ${id.slice(0, 12)} cancelled by the client`, { container: id }));
    const unsubscribe = engine.bus.subscribe(
      id,
      (rec) => {
        if (satisfied(rec)) finish({ exitCode: rec.exitCode, state: rec.state });
      },
      () => finish(new HullError("CONTAINER_NOT_FOUND", `container ${id.slice(0, 12)} was removed while waiting`, { container: id })),
    );
    abort.addEventListener("abort", onAbort);
    if (abort.aborted) return onAbort();
    engine
      .withLock(id, "wait", async (rec) => {
        checkOperation(rec.id, rec.state, "wait");
        if (satisfied(rec)) finish({ exitCode: rec.exitCode, state: rec.state });
      })
      .catch((err: unknown) => finish(wrapError(err, id, "wait")));
  });
}
