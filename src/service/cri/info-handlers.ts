// runtime.v1 Status, RuntimeConfig and UpdateRuntimeConfig.
import type {
  RuntimeConfigRequest,
  RuntimeConfigResponse,
  RuntimeServiceServer,
  StatusRequest,
  StatusResponse,
  UpdateRuntimeConfigRequest,
  UpdateRuntimeConfigResponse,
} from "../../gen/runtime/v1/api.js";
import { CgroupDriver } from "../../gen/runtime/v1/api.js";
import type { Engine } from "../../engine/engine.js";
import { runtimeInfo, updateRuntimeConfig } from "../../ops/runtime-info.js";
import { rejectUndecodable } from "../../validation/wire.js";
import type { RpcWrapper } from "../rpc.js";

type InfoHandlers = Pick<RuntimeServiceServer, "status" | "runtimeConfig" | "updateRuntimeConfig">;

/** The runtime handlers a pod may name: the default ("") and runc, which is what runs. */
const HANDLERS = ["", "runc"];

export function criInfoHandlers(engine: Engine, rpc: RpcWrapper): InfoHandlers {
  return {
    status: rpc.unary<StatusRequest, StatusResponse>("Status", async (req) => {
      rejectUndecodable(req);
      const info = await runtimeInfo(engine);
      const verbose: Record<string, string> = req.verbose ? { config: JSON.stringify(info.facts) } : {};
      return {
        status: {
          conditions: [
            { type: "RuntimeReady", status: info.runtimeReady.ready, reason: info.runtimeReady.reason, message: info.runtimeReady.message },
            { type: "NetworkReady", status: info.networkReady.ready, reason: info.networkReady.reason, message: info.networkReady.message },
          ],
        },
        info: verbose,
        runtimeHandlers: HANDLERS.map((name) => ({
          name,
          features: { recursiveReadOnlyMounts: info.recursiveReadOnlyMounts, userNamespaces: info.userNamespaces },
        })),
        features: { supplementalGroupsPolicy: info.supplementalGroupsPolicy },
      };
    }),
    runtimeConfig: rpc.unary<RuntimeConfigRequest, RuntimeConfigResponse>("RuntimeConfig", async (req) => {
      rejectUndecodable(req);
      // runc is driven through cgroupfs here (cgroupsPath is a path, never a systemd slice).
      return { linux: { cgroupDriver: CgroupDriver.CGROUPFS } };
    }),
    updateRuntimeConfig: rpc.unary<UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse>("UpdateRuntimeConfig", async (req) => {
      rejectUndecodable(req);
      updateRuntimeConfig(engine, req.runtimeConfig?.networkConfig?.podCidr ?? "");
      return {};
    }),
  };
}
