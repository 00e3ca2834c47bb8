// gRPC handlers for the lifecycle RPCs: thin, each one validation
// (src/validation/requests.ts) and one operation (src/ops/, one file per verb).
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import type { Engine } from "../engine/engine.js";
import { createContainer } from "../ops/create.js";
import { initContainer, startContainer } from "../ops/start.js";
import { killContainer } from "../ops/kill.js";
import { pauseContainer } from "../ops/pause.js";
import { unpauseContainer } from "../ops/unpause.js";
import { cleanupContainer } from "../ops/cleanup.js";
import { stopContainer } from "../ops/stop.js";
import { restartContainer } from "../ops/restart.js";
import { removeContainer } from "../ops/remove.js";
import * as v from "../validation/requests.js";
import { toContainer } from "./convert.js";
import type { RpcWrapper } from "./rpc.js";

type LifecycleHandlers = Pick<
  ContainerServiceServer,
  | "createContainer"
  | "initContainer"
  | "startContainer"
  | "stopContainer"
  | "killContainer"
  | "restartContainer"
  | "pauseContainer"
  | "unpauseContainer"
  | "cleanupContainer"
  | "removeContainer"
>;

export function lifecycleHandlers(engine: Engine, rpc: RpcWrapper): LifecycleHandlers {
  return {
    createContainer: rpc.unary("CreateContainer", async (req) => {
      v.validateCreateRequest(req);
      return { container: toContainer(await createContainer(engine, req.config)) };
    }),
    initContainer: rpc.unary("InitContainer", async (req) => {
      v.validateInitRequest(req);
      return { container: toContainer(await initContainer(engine, req.id, req.recursive)) };
    }),
    startContainer: rpc.unary("StartContainer", async (req) => {
      v.validateStartRequest(req);
      return { container: toContainer(await startContainer(engine, req.id, req.recursive)) };
    }),
    stopContainer: rpc.unary("StopContainer", async (req) => {
      v.validateStopRequest(req);
      return { container: toContainer(await stopContainer(engine, req.id, req.timeoutSeconds)) };
    }),
    killContainer: rpc.unary("KillContainer", async (req) => {
      v.validateKillRequest(req);
      return { container: toContainer(await killContainer(engine, req.id, req.signal)) };
    }),
    restartContainer: rpc.unary("RestartContainer", async (req) => {
      v.validateRestartRequest(req);
      return { container: toContainer(await restartContainer(engine, req.id, req.timeoutSeconds)) };
    }),
    pauseContainer: rpc.unary("PauseContainer", async (req) => {
      v.validatePauseRequest(req);
      return { container: toContainer(await pauseContainer(engine, req.id)) };
    }),
    unpauseContainer: rpc.unary("UnpauseContainer", async (req) => {
      v.validateUnpauseRequest(req);
      return { container: toContainer(await unpauseContainer(engine, req.id)) };
    }),
    cleanupContainer: rpc.unary("CleanupContainer", async (req) => {
      v.validateCleanupRequest(req);
      const result = await cleanupContainer(engine, req.id, req.onlyStopped);
      return { container: toContainer(result.rec), restarted: result.restarted };
    }),
    removeContainer: rpc.unary("RemoveContainer", async (req) => {
      v.validateRemoveRequest(req);
      return { id: await removeContainer(engine, req.id, req.force, req.timeoutSeconds) };
    }),
  };
}
