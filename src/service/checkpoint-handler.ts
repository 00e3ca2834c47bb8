// CheckpointContainer and RestoreContainer: CRIU through the OCI runtime.
// Order of refusals: the request's fields (INVALID_ARGUMENT), then CRIU's
// probe (FAILED_PRECONDITION CHECKPOINT_UNSUPPORTED, run once per hulld),
// then the container's state.
import { stat } from "node:fs/promises";
import { dirname, isAbsolute } from "node:path";
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import type { Engine } from "../lifecycle/engine.js";
import { checkpointContainer, restoreFromArchive, restoreInPlace } from "../lifecycle/checkpoint.js";
import { validateName } from "../lifecycle/validate-config.js";
import { CriuProbe } from "../oci/criu.js";
import { toContainer } from "./convert.js";
import { requireId } from "./lifecycle-handlers.js";
import type { RpcWrapper } from "./rpc.js";

function checkTarget(path: string): void {
  if (path.includes("\0")) throw invalidArgument("target_file", "contains a NUL byte");
  if (!isAbsolute(path)) throw invalidArgument("target_file", `"${path}" is not an absolute host path`);
  if (path.endsWith("/")) throw invalidArgument("target_file", `"${path}" names a directory, not a file`);
}

/**
 * Where the archive is to be written must be writable before CRIU stops the
 * processes: an archive that cannot be written after the dump is too late.
 */
async function checkWritableTarget(path: string): Promise<void> {
  const parent = await stat(dirname(path)).catch(() => undefined);
  if (!parent?.isDirectory()) throw invalidArgument("target_file", `the directory of "${path}" does not exist`);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) throw invalidArgument("target_file", `"${path}" is a directory`);
}

export function checkpointHandlers(engine: Engine, rpc: RpcWrapper, probe = new CriuProbe()): Pick<ContainerServiceServer, "checkpointContainer" | "restoreContainer"> {
  return {
    checkpointContainer: rpc.unary("CheckpointContainer", async (req) => {
      const id = requireId(req.id);
      // "" keeps the image in the container's dir only, for a later in-place restore.
      if (req.targetFile !== "") {
        checkTarget(req.targetFile);
        await checkWritableTarget(req.targetFile);
      }
      await probe.require("checkpoint");
      const rec = await checkpointContainer(engine, id, {
        keep: req.keep,
        keepRunning: req.keepRunning,
        tcpEstablished: req.tcpEstablished,
        targetFile: req.targetFile,
        ignoreRootfs: req.ignoreRootfs,
      });
      return { container: toContainer(rec) };
    }),
    restoreContainer: rpc.unary("RestoreContainer", async (req) => {
      // ignore_static_ip / ignore_static_mac: hull containers have no static
      // IP or MAC (network_mode is host or none), so there is nothing to drop.
      const opts = { keep: req.keep, tcpEstablished: req.tcpEstablished, ignoreRootfs: req.ignoreRootfs };
      if (req.targetFile === "") {
        if (req.id === "") throw invalidArgument("target_file", "give the archive to restore from (an absolute host path), or the id of a container whose checkpoint was kept");
        if (req.name !== "") throw invalidArgument("name", "a new name needs target_file: only an archive restores as a new container");
        await probe.require("restore");
        return { container: toContainer(await restoreInPlace(engine, req.id, opts)) };
      }
      checkTarget(req.targetFile);
      if (req.id !== "") throw invalidArgument("id", "give either id (restore the container's kept checkpoint) or target_file (restore from an archive), not both");
      if (req.name !== "") validateName(req.name);
      await probe.require("restore");
      return { container: toContainer(await restoreFromArchive(engine, req.targetFile, req.name, opts)) };
    }),
  };
}
