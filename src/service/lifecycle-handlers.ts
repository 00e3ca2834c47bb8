// gRPC handlers for the lifecycle RPCs: thin, each one call into the engine.
import type { ContainerServiceServer } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import type { Engine } from "../lifecycle/engine.js";
import { createContainer } from "../lifecycle/create.js";
import { initContainer, startContainer } from "../lifecycle/start.js";
import { killLocked, pauseLocked, unpauseLocked, cleanupLocked } from "../lifecycle/operations.js";
import { removeContainer, restartContainer, stopContainer } from "../lifecycle/stop.js";
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

export function requireId(id: string): string {
  if (id === "") throw invalidArgument("id", "a container id or name is required");
  return id;
}

export function lifecycleHandlers(engine: Engine, rpc: RpcWrapper): LifecycleHandlers {
  return {
    createContainer: rpc.unary("CreateContainer", async (req) => {
      if (!req.config) throw invalidArgument("config", "required");
      return { container: toContainer(await createContainer(engine, req.config)) };
    }),
    initContainer: rpc.unary("InitContainer", async (req) => ({
      container: toContainer(await initContainer(engine, requireId(req.id), req.recursive)),
    })),
    startContainer: rpc.unary("StartContainer", async (req) => ({
      container: toContainer(await startContainer(engine, requireId(req.id), req.recursive)),
    })),
    stopContainer: rpc.unary("StopContainer", async (req) => ({
      container: toContainer(await stopContainer(engine, requireId(req.id), req.timeoutSeconds)),
    })),
    killContainer: rpc.unary("KillContainer", async (req) => ({
      container: toContainer(await engine.locked(requireId(req.id), "kill", (rec) => killLocked(engine, rec, req.signal))),
    })),
    restartContainer: rpc.unary("RestartContainer", async (req) => ({
      container: toContainer(await restartContainer(engine, requireId(req.id), req.timeoutSeconds)),
    })),
    pauseContainer: rpc.unary("PauseContainer", async (req) => ({
      container: toContainer(await engine.locked(requireId(req.id), "pause", (rec) => pauseLocked(engine, rec))),
    })),
    unpauseContainer: rpc.unary("UnpauseContainer", async (req) => ({
      container: toContainer(await engine.locked(requireId(req.id), "unpause", (rec) => unpauseLocked(engine, rec))),
    })),
    cleanupContainer: rpc.unary("CleanupContainer", async (req) => {
      const result = await engine.locked(requireId(req.id), "cleanup", (rec) => cleanupLocked(engine, rec, req.onlyStopped));
      return { container: toContainer(result.rec), restarted: result.restarted };
    }),
    removeContainer: rpc.unary("RemoveContainer", async (req) => ({
      id: await removeContainer(engine, requireId(req.id), req.force, req.timeoutSeconds),
    })),
  };
}
