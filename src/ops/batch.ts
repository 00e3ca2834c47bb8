// Batch: several operations on one container under one acquisition of its
// lock, as the seed's Batch. Stops at the first failure; every operation run
// gets a result with its status.
import type { BatchOperation, BatchResult, ContainerServiceServer } from "../gen/hull/v1/container.js";
import { BatchOperationKind } from "../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError, invalidArgument } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";
import { cleanupLocked, killLocked, pauseLocked, startLocked, unpauseLocked, initLocked } from "./operations.js";
import { DEFAULT_STOP_TIMEOUT, KILL_GRACE_MS, beginStop, escalateStop, exitWaiter } from "./stop.js";
import { syncWithRuntime } from "./sync.js";
import { toContainer } from "../service/convert.js";
import { validateBatchRequest } from "../validation/requests.js";
import type { RpcWrapper } from "../service/rpc.js";
import { toRpcStatus } from "../service/status.js";

const S = ContainerState;

/** Stop while holding the lock (the batch owns it); the exit is read from the watcher. */
async function stopHoldingLock(engine: Engine, rec: ContainerRecord, timeoutSeconds: number | undefined): Promise<ContainerRecord> {
  checkOperation(rec.id, rec.state, "stop");
  const seconds = timeoutSeconds ?? rec.config.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT;
  const waiter = exitWaiter(engine, rec.id);
  try {
    await beginStop(engine, rec, seconds);
    let code = await waiter.wait(seconds * 1000);
    if (code === undefined) {
      await escalateStop(engine, rec.id);
      code = await waiter.wait(KILL_GRACE_MS);
    }
    if (code === undefined) throw new HullError("INTERNAL", `container ${rec.id.slice(0, 12)} did not exit after SIGKILL`, { container: rec.id });
    return await engine.sync(rec.id);
  } finally {
    waiter.cancel();
  }
}

async function runOne(engine: Engine, rec: ContainerRecord, op: BatchOperation): Promise<ContainerRecord> {
  switch (op.kind) {
    case BatchOperationKind.BATCH_OPERATION_KIND_INIT:
      return initLocked(engine, rec);
    case BatchOperationKind.BATCH_OPERATION_KIND_START:
      return startLocked(engine, rec);
    case BatchOperationKind.BATCH_OPERATION_KIND_STOP:
      return stopHoldingLock(engine, rec, op.timeoutSeconds);
    case BatchOperationKind.BATCH_OPERATION_KIND_KILL:
      return killLocked(engine, rec, op.signal);
    case BatchOperationKind.BATCH_OPERATION_KIND_PAUSE:
      return pauseLocked(engine, rec);
    case BatchOperationKind.BATCH_OPERATION_KIND_UNPAUSE:
      return unpauseLocked(engine, rec);
    case BatchOperationKind.BATCH_OPERATION_KIND_RESTART: {
      checkOperation(rec.id, rec.state, "restart");
      const stopped = rec.state === S.CONTAINER_STATE_RUNNING ? await stopHoldingLock(engine, rec, op.timeoutSeconds) : rec;
      return startLocked(engine, stopped);
    }
    case BatchOperationKind.BATCH_OPERATION_KIND_CLEANUP:
      return (await cleanupLocked(engine, rec)).rec;
    case BatchOperationKind.BATCH_OPERATION_KIND_SYNC:
      return syncWithRuntime(engine, rec);
    case BatchOperationKind.BATCH_OPERATION_KIND_INSPECT:
      return rec;
    default:
      throw invalidArgument("operations.kind", `${String(op.kind)} is not a batch operation`);
  }
}

export function batchHandler(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "batch"> {
  return {
    batch: rpc.unary("Batch", async (req) => {
      validateBatchRequest(req);
      const results: BatchResult[] = [];
      await engine.locked(req.id, "batch", async (first) => {
        let rec = first;
        for (const op of req.operations) {
          try {
            rec = await runOne(engine, rec, op);
            results.push({ kind: op.kind, status: { code: 0, message: "", details: [] }, container: toContainer(rec) });
          } catch (err) {
            results.push({ kind: op.kind, status: toRpcStatus(err), container: toContainer((await engine.store.getContainer(rec.id)) ?? rec) });
            return;
          }
        }
      });
      return { results };
    }),
  };
}
