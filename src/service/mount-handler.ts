// MountContainer, UnmountContainer and ExportContainer: the container's root filesystem on the host.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { checkOperation } from "../statemachine/states.js";
import { drainedOrAborted, exportTree } from "../images/export.js";
import { mountLocked, unmountLocked } from "../ops/mount.js";
import { withRootfs } from "../ops/rootfs.js";
import { toContainer } from "./convert.js";
import { validateExportRequest, validateMountRequest, validateUnmountRequest } from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

export function mountHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "mountContainer" | "unmountContainer" | "exportContainer"> {
  return {
    mountContainer: rpc.unary("MountContainer", async (req) => {
      validateMountRequest(req);
      const { rec, path } = await engine.locked(req.id, "mount", (r) => mountLocked(engine, r));
      return { container: toContainer(rec), path };
    }),
    unmountContainer: rpc.unary("UnmountContainer", async (req) => {
      validateUnmountRequest(req);
      return { container: toContainer(await engine.locked(req.id, "unmount", (r) => unmountLocked(engine, r, req.force))) };
    }),
    exportContainer: rpc.serverStream("ExportContainer", async (call, ctx) => {
      validateExportRequest(call.request);
      const ref = call.request.id;
      const log = engine.log.child({ op: "export" });
      await withRootfs(
        engine,
        ref,
        "export",
        (rec) => checkOperation(rec.id, rec.state, "export"),
        async (path, rec) => {
          log.debug({ container: rec.id, path }, "exporting");
          // The tar is streamed without the lock: an export of a big tree must not block the container's other calls.
          await exportTree(
            path,
            async (chunk) => {
              if (!call.write({ chunk })) await drainedOrAborted(call, ctx.signal);
            },
            ctx.signal,
            log,
          );
        },
      );
    }),
  };
}
