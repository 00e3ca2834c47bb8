// Write-ahead intents: an operation that spans the store and the runtime
// notes itself (intent/<id>) before it touches the runtime and clears the
// note with its final save, in one LevelDB batch (Engine.saveWithIntent). A
// hulld that starts and finds a note knows the operation was cut short
// (src/recovery/ repairs it).
//
//   init   : put before conmon/runc create; cleared by the CREATED save.
//   stop   : put with the STOPPING save (carries when SIGKILL is due);
//            cleared by cleanup's EXITED save, by init, or with the record.
//   remove : put with the REMOVING save; goes with the record.
// Create needs none: its record write is its commit point, and a container
// dir left without a record is swept at start.
import type { OperationIntent } from "../store/record.js";

export function initIntent(): OperationIntent {
  return { op: "init", startedAt: new Date().toISOString() };
}

export function removeIntent(): OperationIntent {
  return { op: "remove", startedAt: new Date().toISOString() };
}

/** A stop begun now that escalates to SIGKILL after `seconds` (0: killed at once). */
export function stopIntent(seconds: number): OperationIntent {
  const now = Date.now();
  return { op: "stop", startedAt: new Date(now).toISOString(), killAt: new Date(now + seconds * 1000).toISOString() };
}

/** Milliseconds left before a stop's SIGKILL is due; undefined when the intent does not say. */
export function stopRemainingMs(intent: OperationIntent | undefined, now = Date.now()): number | undefined {
  if (intent?.op !== "stop" || !intent.killAt) return undefined;
  const due = Date.parse(intent.killAt);
  return Number.isNaN(due) ? undefined : Math.max(0, due - now);
}
