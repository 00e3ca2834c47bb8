// Exec, Attach and PortForward requests, checked as the kubelet's streaming
// server checks them (k8s.io/kubelet/pkg/cri/streaming: a stream must be
// asked for; a terminal has no separate stderr) before any URL is issued.
import type { AttachRequest, ExecRequest, PortForwardRequest } from "../../gen/runtime/v1/api.js";
import { invalidArgument } from "../../errors.js";
import { rejectUndecodable } from "../wire.js";
import { checkArgv, checkCount, checkRange } from "../rules.js";
import { checkRequiredId } from "./runtime-requests.js";

const MAX_FORWARDED_PORTS = 128;

function checkStreams(req: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): void {
  if (req.tty && req.stderr) throw invalidArgument("stderr", "tty and stderr cannot both be true: a terminal has one output");
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument("stdin", "one of stdin, stdout, or stderr must be set");
}

export function validateCriExec(req: ExecRequest): void {
  rejectUndecodable(req);
  checkRequiredId("container_id", req.containerId);
  checkArgv("cmd", req.cmd, true);
  checkStreams(req);
}

export function validateCriAttach(req: AttachRequest): void {
  rejectUndecodable(req);
  checkRequiredId("container_id", req.containerId);
  checkStreams(req);
}

export function validateCriPortForward(req: PortForwardRequest): void {
  rejectUndecodable(req);
  checkRequiredId("pod_sandbox_id", req.podSandboxId);
  checkCount("port", req.port, MAX_FORWARDED_PORTS);
  req.port.forEach((p, i) => checkRange(`port[${i}]`, p, 1, 65535));
}
