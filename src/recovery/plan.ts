// What recovery does with one record, decided from the record, its
// write-ahead intent and what the host shows (pure: unit-tested for every
// case recovery.ts lists).
import { ContainerState, type OperationIntent } from "../store/record.js";
import { mayHaveExited } from "../statemachine/states.js";
import type { RuntimeState } from "../oci/runtime.js";

const S = ContainerState;

export interface RecoveryInput {
  state: ContainerState;
  intent: OperationIntent | undefined;
  /** The runtime's container; undefined when it has none. */
  runtime: RuntimeState | undefined;
  /** Whether the container's own monitor (conmon) still runs. */
  monitorAlive: boolean;
}

export type RecoveryAction =
  /** Nothing to repair in the record or the runtime. */
  | { kind: "none" }
  /** A runtime container or monitor that the record says should not exist: delete it. */
  | { kind: "delete-leftovers" }
  /** The process lives: keep it, in the state the runtime reports (a STOPPING one found frozen is thawed). */
  | { kind: "keep-live"; monitorGone: boolean }
  /** The process is gone and its monitor alive: its exit file is on the way. */
  | { kind: "await-exit-file" }
  /** Nobody will record the exit: STOPPED with -1 and the reason, as libpod does. */
  | { kind: "record-vanished"; reason: string };

export interface RecoveryPlan {
  /** A removal was cut short: finish it (nothing else applies). */
  finishRemoval: boolean;
  /** An init was cut short before its CREATED save: delete its half-made runtime container. */
  undoInit: boolean;
  /** An init intent on a live record: its save happened, the note is stale. */
  clearStaleIntent: boolean;
  action: RecoveryAction;
}

export const VANISHED_REASON = "the runtime container vanished while hulld was down";
export const MONITOR_DIED_REASON = "the container's monitor (conmon) died without recording an exit status";

export function planRecovery(input: RecoveryInput): RecoveryPlan {
  const plan: RecoveryPlan = { finishRemoval: false, undoInit: false, clearStaleIntent: false, action: { kind: "none" } };
  if (input.state === S.CONTAINER_STATE_REMOVING || input.intent?.op === "remove") return { ...plan, finishRemoval: true };
  if (input.intent?.op === "init") {
    // The CREATED save clears the intent in its batch: a live state with one is a stale note.
    if (mayHaveExited(input.state)) plan.clearStaleIntent = true;
    else plan.undoInit = true;
  }
  const seen = input.runtime;
  switch (input.state) {
    case S.CONTAINER_STATE_CONFIGURED:
    case S.CONTAINER_STATE_EXITED:
      // undoInit already deletes what the cut init left.
      if (!plan.undoInit && (seen !== undefined || input.monitorAlive)) plan.action = { kind: "delete-leftovers" };
      return plan;
    case S.CONTAINER_STATE_CREATED:
    case S.CONTAINER_STATE_RUNNING:
    case S.CONTAINER_STATE_PAUSED:
    case S.CONTAINER_STATE_STOPPING:
      if (seen && seen.status !== "stopped") plan.action = { kind: "keep-live", monitorGone: !input.monitorAlive };
      else if (seen && input.monitorAlive) plan.action = { kind: "await-exit-file" };
      else plan.action = { kind: "record-vanished", reason: seen ? MONITOR_DIED_REASON : VANISHED_REASON };
      return plan;
    default:
      return plan;
  }
}
