// CheckpointContainer and RestoreContainer: CRIU through the OCI runtime.
// Order of refusals: the request's fields (INVALID_ARGUMENT), then CRIU's
// probe (FAILED_PRECONDITION CHECKPOINT_UNSUPPORTED, run once per hulld),
// then the container's state.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { checkpointContainer, restoreFromArchive, restoreInPlace } from "../ops/checkpoint.js";
import { CriuProbe } from "../oci/criu.js";
import { validateCheckpointRequest, validateCheckpointTarget, validateRestoreRequest } from "../validation/requests.js";
import { toContainer } from "./convert.js";
import type { RpcWrapper } from "./rpc.js";

export function checkpointHandlers(
  engine: Engine,
  rpc: RpcWrapper,
  probe = new CriuProbe(),
): Pick<ContainerServiceServer, "checkpointContainer" | "restoreContainer"> {
  return {
    checkpointContainer: rpc.unary("CheckpointContainer", async (req) => {
      validateCheckpointRequest(req);
      await validateCheckpointTarget(req);
      await probe.require("checkpoint");
      const rec = await checkpointContainer(engine, req.id, {
        keep: req.keep,
        keepRunning: req.keepRunning,
        tcpEstablished: req.tcpEstablished,
        targetFile: req.targetFile,
        ignoreRootfs: req.ignoreRootfs,
      });
      return { container: toContainer(rec) };
    }),
    restoreContainer: rpc.unary("RestoreContainer", async (req) => {
      // Either id (the kept checkpoint, in place) or target_file (an archive, maybe under a new name).
      validateRestoreRequest(req);
      // ignore_static_ip / ignore_static_mac: hull containers have no static
      // IP or MAC (network_mode is host or none), so there is nothing to drop.
      const opts = { keep: req.keep, tcpEstablished: req.tcpEstablished, ignoreRootfs: req.ignoreRootfs };
      await probe.require("restore");
      if (req.targetFile === "") return { container: toContainer(await restoreInPlace(engine, req.id, opts)) };
      return { container: toContainer(await restoreFromArchive(engine, req.targetFile, req.name, opts)) };
    }),
  };
}
