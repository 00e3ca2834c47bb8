// MountContainer, UnmountContainer and ExportContainer: the container's root filesystem on the host.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { drainedOrAborted } from "../images/export.js";
import { mountContainer, unmountContainer } from "../ops/mount.js";
import { exportContainer } from "../ops/export.js";
import { toContainer } from "./convert.js";
import { validateExportRequest, validateMountRequest, validateUnmountRequest } from "../validation/requests.js";
import type { RpcWrapper } from "./rpc.js";

export function mountHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "mountContainer" | "unmountContainer" | "exportContainer"> {
  return {
    mountContainer: rpc.unary("MountContainer", async (req) => {
      validateMountRequest(req);
      const { rec, path } = await mountContainer(engine, req.id);
      return { container: toContainer(rec), path };
    }),
    unmountContainer: rpc.unary("UnmountContainer", async (req) => {
      validateUnmountRequest(req);
      return { container: toContainer(await unmountContainer(engine, req.id, req.force)) };
    }),
    exportContainer: rpc.serverStream("ExportContainer", async (call, ctx) => {
      validateExportRequest(call.request);
      await exportContainer(
        engine,
        call.request.id,
        async (chunk) => {
          if (!call.write({ chunk })) await drainedOrAborted(call, ctx.signal);
        },
        ctx.signal,
      );
    }),
  };
}
