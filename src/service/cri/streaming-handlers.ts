// runtime.v1 Exec, Attach and PortForward: each checks its request and its
// object, then answers a single-use URL on hulld's streaming server
// (src/service/streaming/), where the client's connection runs it. As
// CRI-O and containerd do, the URL is issued only for what could run now:
// a running container for exec, an attachable one for attach, a ready pod.
import type {
  AttachRequest,
  AttachResponse,
  ExecRequest,
  ExecResponse,
  PortForwardRequest,
  PortForwardResponse,
  RuntimeServiceServer,
} from "../../gen/runtime/v1/api.js";
import type { Engine } from "../../engine/engine.js";
import { checkStreamingContainer, portForwardNamespace } from "../../ops/pods/streaming.js";
import { validateCriAttach, validateCriExec, validateCriPortForward } from "../../validation/cri/streaming-requests.js";
import type { RpcWrapper } from "../rpc.js";
import type { StreamingServer } from "../streaming/server.js";

export function criStreamingHandlers(
  engine: Engine,
  rpc: RpcWrapper,
  streaming: StreamingServer,
): Pick<RuntimeServiceServer, "exec" | "attach" | "portForward"> {
  return {
    exec: rpc.unary<ExecRequest, ExecResponse>("Exec", async (req) => {
      validateCriExec(req);
      const containerId = await checkStreamingContainer(engine, req.containerId, "exec");
      return {
        url: streaming.url({ kind: "exec", containerId, command: [...req.cmd], stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty }),
      };
    }),
    attach: rpc.unary<AttachRequest, AttachResponse>("Attach", async (req) => {
      validateCriAttach(req);
      const containerId = await checkStreamingContainer(engine, req.containerId, "attach");
      return { url: streaming.url({ kind: "attach", containerId, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty }) };
    }),
    portForward: rpc.unary<PortForwardRequest, PortForwardResponse>("PortForward", async (req) => {
      validateCriPortForward(req);
      const { podId } = await portForwardNamespace(engine, req.podSandboxId);
      return { url: streaming.url({ kind: "portforward", podId, ports: [...req.port] }) };
    }),
  };
}
