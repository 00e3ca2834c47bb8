// Batch: the wire's operation kinds mapped onto ops/batch.ts's steps, and
// each step's result onto its status.
import type { BatchOperation, ContainerServiceServer } from "../gen/hull/v1/container.js";
import { BatchOperationKind } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { batchContainer, type BatchStep } from "../ops/batch.js";
import { validateBatchRequest } from "../validation/requests.js";
import { toContainer } from "./convert.js";
import type { RpcWrapper } from "./rpc.js";
import { toRpcStatus } from "./status.js";

function stepOf(op: BatchOperation, index: number): BatchStep {
  const K = BatchOperationKind;
  switch (op.kind) {
    case K.BATCH_OPERATION_KIND_INIT:
      return { kind: "init" };
    case K.BATCH_OPERATION_KIND_START:
      return { kind: "start" };
    case K.BATCH_OPERATION_KIND_STOP:
      return { kind: "stop", timeoutSeconds: op.timeoutSeconds };
    case K.BATCH_OPERATION_KIND_KILL:
      return { kind: "kill", signal: op.signal };
    case K.BATCH_OPERATION_KIND_PAUSE:
      return { kind: "pause" };
    case K.BATCH_OPERATION_KIND_UNPAUSE:
      return { kind: "unpause" };
    case K.BATCH_OPERATION_KIND_RESTART:
      return { kind: "restart", timeoutSeconds: op.timeoutSeconds };
    case K.BATCH_OPERATION_KIND_CLEANUP:
      return { kind: "cleanup" };
    case K.BATCH_OPERATION_KIND_SYNC:
      return { kind: "sync" };
    case K.BATCH_OPERATION_KIND_INSPECT:
      return { kind: "inspect" };
    default:
      throw invalidArgument(`operations[${index}].kind`, `${String(op.kind)} is not a batch operation`);
  }
}

export function batchHandler(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "batch"> {
  return {
    batch: rpc.unary("Batch", async (req) => {
      validateBatchRequest(req);
      const steps = req.operations.map(stepOf);
      const results = await batchContainer(engine, req.id, steps);
      return {
        results: results.map((r, i) => ({
          kind: req.operations[i]?.kind ?? 0,
          status: r.error === undefined ? { code: 0, message: "", details: [] } : toRpcStatus(r.error),
          container: toContainer(r.rec),
        })),
      };
    }),
  };
}
