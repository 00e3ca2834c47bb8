// Batch: several operations on one container under one acquisition of its
// lock, as libpod runs a batched container's methods: each operation is the
// very same one a single RPC runs (its *Locked form), never a copy. Stops at
// the first failure; every operation run gets its result.
import type { ContainerRecord } from "../store/record.js";
import type { Operation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";
import { initLocked } from "./init.js";
import { startLocked } from "./start.js";
import { stopLocked } from "./stop.js";
import { killLocked } from "./kill.js";
import { pauseLocked } from "./pause.js";
import { unpauseLocked } from "./unpause.js";
import { restartLocked } from "./restart.js";
import { cleanupLocked } from "./cleanup.js";
import { syncWithRuntime } from "./sync.js";

export type BatchStep =
  | { kind: "init" | "start" | "pause" | "unpause" | "cleanup" | "sync" | "inspect" }
  | { kind: "stop" | "restart"; timeoutSeconds?: number }
  | { kind: "kill"; signal: string };

export interface BatchStepResult {
  step: BatchStep;
  /** The container after the step (after a failure: as the store has it). */
  rec: ContainerRecord;
  error?: unknown;
}

/** The state table's name for each step, so a runtime refusal a concurrent exit explains is answered as the table says. */
const OPERATION_OF: Readonly<Record<BatchStep["kind"], Operation | undefined>> = {
  init: "init",
  start: "start",
  stop: "stop",
  kill: "kill",
  pause: "pause",
  unpause: "unpause",
  restart: "restart",
  cleanup: "cleanup",
  sync: undefined,
  inspect: undefined,
};

function runStep(engine: Engine, rec: ContainerRecord, step: BatchStep): Promise<ContainerRecord> {
  switch (step.kind) {
    case "init":
      return initLocked(engine, rec);
    case "start":
      return startLocked(engine, rec);
    case "stop":
      return stopLocked(engine, rec, step.timeoutSeconds);
    case "kill":
      return killLocked(engine, rec, step.signal);
    case "pause":
      return pauseLocked(engine, rec);
    case "unpause":
      return unpauseLocked(engine, rec);
    case "restart":
      return restartLocked(engine, rec, step.timeoutSeconds);
    case "cleanup":
      return cleanupLocked(engine, rec).then((r) => r.rec);
    case "sync":
      return syncWithRuntime(engine, rec);
    case "inspect":
      return Promise.resolve(rec);
  }
}

export async function batchContainer(engine: Engine, ref: string, steps: BatchStep[]): Promise<BatchStepResult[]> {
  const results: BatchStepResult[] = [];
  await engine.locked(ref, "batch", async (first) => {
    let rec = first;
    for (const step of steps) {
      try {
        rec = await runStep(engine, rec, step);
        results.push({ step, rec });
      } catch (err) {
        const operation = OPERATION_OF[step.kind];
        const error = operation === undefined ? err : await engine.explainRefusal(rec.id, operation, err);
        results.push({ step, rec: (await engine.store.getContainer(rec.id)) ?? rec, error });
        return;
      }
    }
  });
  return results;
}
