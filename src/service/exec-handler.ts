// ExecContainer and ExecSync: processes run in a running container through
// conmon's exec mode (src/oci/exec.ts), recorded as exec sessions
// (src/lifecycle/exec.ts).
//
// Choices:
// - ExecSync collects at most MAX_SYNC_OUTPUT bytes of each stream; the rest
//   is read and dropped (the process is never blocked on it), silently.
// - ExecSync's timeout is conmon's --timeout: the process group is SIGKILLed
//   and the answer is CRI-O's: exit code -1 and "command timed out" at the end
//   of stderr (after whatever the command wrote before).
// - A command the runtime cannot run answers 127 (not found) or 126 (not
//   executable) with the runtime's message on stderr, as Docker and Podman do.
// - A client that cancels its call, or falls more than MAX_PENDING_OUTPUT
//   behind (RESOURCE_EXHAUSTED), takes its exec down with it (SIGKILL); the
//   detach keys (tty with stdin only) leave it running and end the stream
//   without an exit code.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import {
  OutputStream,
  type ContainerServiceServer,
  type ExecContainerRequest,
  type ExecContainerResponse,
  type ExecOpen,
  type ExecSyncRequest,
  type ExecSyncResponse,
} from "../gen/hull/v1/container.js";
import { HullError, invalidArgument } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { endExecInput, resizeExecSession, startExec, type ExecRequest, type ExecSession } from "../ops/exec.js";
import { execSyncContainer } from "../ops/exec-sync.js";
import { ExecCommandError } from "../oci/exec-failure.js";
import type { OutputStreamName } from "../oci/attach.js";
import { DetachMatcher, parseDetachKeys } from "../domain/detach-keys.js";
import { validateExecOpen, validateExecSyncRequest } from "../validation/requests.js";
import { checkTerminalSize } from "../validation/rules.js";
import type { CallContext, RpcWrapper } from "./rpc.js";

export const MAX_PENDING_OUTPUT = 8 * 1024 * 1024;
/** The engine's request from the wire's (already validated) process fields. */
function execRequest(
  r: { command: string[]; env: string[]; workingDir: string; user: string },
  extra: Omit<ExecRequest, "command" | "env" | "workingDir" | "user">,
): ExecRequest {
  return { command: r.command, env: r.env, workingDir: r.workingDir, user: r.user, ...extra };
}

async function execSync(engine: Engine, req: ExecSyncRequest, ctx: CallContext): Promise<ExecSyncResponse> {
  validateExecSyncRequest(req);
  const result = await execSyncContainer(engine, req.id, execRequest(req, { tty: false, stdin: false, timeoutSeconds: req.timeoutSeconds }), ctx.signal);
  if (result.sessionId !== "") ctx.span.setAttribute("hull.exec.id", result.sessionId);
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** The first message, which must be open; later ones stay buffered (the call is paused). */
function firstMessage(call: ServerDuplexStream<ExecContainerRequest, ExecContainerResponse>, signal: AbortSignal): Promise<ExecOpen> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      call.off("data", onData);
      call.off("end", onEnd);
      call.off("error", onError);
      signal.removeEventListener("abort", onAbort);
    };
    const onData = (req: ExecContainerRequest): void => {
      cleanup();
      call.pause();
      if (req.message?.$case !== "open") reject(invalidArgument("open", "the first message of ExecContainer must be open"));
      else resolve(req.message.value);
    };
    const onEnd = (): void => {
      cleanup();
      reject(invalidArgument("open", "the stream ended before an open message"));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new HullError("UNAVAILABLE", "the client cancelled the exec before opening it"));
    };
    call.on("data", onData);
    call.once("end", onEnd);
    call.once("error", onError);
    signal.addEventListener("abort", onAbort);
  });
}

function frame(stream: OutputStreamName, data: Buffer): ExecContainerResponse {
  const s = stream === "stdout" ? OutputStream.OUTPUT_STREAM_STDOUT : OutputStream.OUTPUT_STREAM_STDERR;
  return { message: { $case: "output", value: { stream: s, data } } };
}

async function execContainer(engine: Engine, call: ServerDuplexStream<ExecContainerRequest, ExecContainerResponse>, ctx: CallContext): Promise<void> {
  const open = await firstMessage(call, ctx.signal);
  validateExecOpen(open);
  const id = open.id;
  ctx.span.setAttribute("hull.container.id", id);
  const detach = open.tty && open.stdin ? new DetachMatcher(parseDetachKeys(open.detachKeys)) : undefined;
  const request = execRequest(open, { tty: open.tty, stdin: open.stdin, timeoutSeconds: 0, size: open.size });

  // Ends the call one way or another: an exit, a detach, a failure.
  let settle: (outcome: { exitCode?: number; error?: unknown }) => void = () => undefined;
  const outcome = new Promise<{ exitCode?: number; error?: unknown }>((resolve) => (settle = resolve));
  // Set on a failure or detach: nothing more is written to this client.
  let dropped = false;
  let settled = false;
  const finish = (o: { exitCode?: number; error?: unknown }): void => {
    if (settled) return;
    settled = true;
    if (o.exitCode === undefined) dropped = true;
    settle(o);
  };
  let pending = 0;
  let ready = false;
  const early: ExecContainerResponse[] = [];
  const send = (msg: ExecContainerResponse): void => {
    if (dropped || call.writableEnded || ctx.signal.aborted) return;
    const size = msg.message?.$case === "output" ? msg.message.value.data.length : 0;
    pending += size;
    call.write(msg, () => (pending -= size));
    if (pending > MAX_PENDING_OUTPUT) {
      finish({
        error: new HullError("RESOURCE_EXHAUSTED", `exec client fell more than ${MAX_PENDING_OUTPUT} bytes behind the output; ended its stream and the exec`, {
          container: id,
        }),
      });
    }
  };
  const output = (stream: OutputStreamName, data: Buffer): void => {
    if (ready) send(frame(stream, data));
    else early.push(frame(stream, data));
  };

  let session: ExecSession;
  try {
    session = await startExec(engine, id, request, output);
  } catch (e) {
    if (!(e instanceof ExecCommandError)) throw e;
    call.write(frame("stderr", Buffer.from(`${e.message}\n`)));
    call.write({ message: { $case: "exitCode", value: e.exitCode } });
    return;
  }
  ctx.span.setAttribute("hull.exec.id", session.id);
  const proc = session.process;
  send({ message: { $case: "sessionId", value: session.id } });
  ready = true;
  for (const m of early.splice(0)) send(m);

  // Client messages run in order: a close-stdin never overtakes the stdin before it.
  let chain = Promise.resolve();
  const enqueue = (fn: () => Promise<void> | void): void => {
    chain = chain.then(fn).catch((error: unknown) => finish({ error }));
  };
  let stdinClosed = false;
  const closeStdin = (): void => {
    if (stdinClosed) return;
    stdinClosed = true;
    // A held-back start of the detach keys that never completed was ordinary input.
    const held = detach?.flush();
    if (held && held.length > 0) enqueue(() => proc.writeStdin(held));
    enqueue(() => endExecInput(proc, open.tty));
  };
  call.on("data", (req: ExecContainerRequest) => {
    const m = req.message;
    switch (m?.$case) {
      case "stdin": {
        if (!open.stdin) return finish({ error: invalidArgument("stdin", "stdin was not requested in open") });
        if (stdinClosed) return finish({ error: invalidArgument("stdin", "stdin was already closed") });
        const { forward, detached } = detach ? detach.push(m.value) : { forward: m.value, detached: false };
        if (forward.length > 0) enqueue(() => proc.writeStdin(forward));
        if (detached) enqueue(() => finish({}));
        return;
      }
      case "resize": {
        if (!open.tty) return finish({ error: invalidArgument("resize", "the exec has no terminal") });
        try {
          checkTerminalSize("resize", m.value);
        } catch (error) {
          return finish({ error });
        }
        const { height, width } = m.value;
        enqueue(() => resizeExecSession(proc, height, width));
        return;
      }
      case "closeStdin":
        if (open.stdin) closeStdin();
        return;
      case "open":
        return finish({ error: invalidArgument("open", "sent twice") });
      default:
        return finish({ error: invalidArgument("message", "empty ExecContainerRequest") });
    }
  });
  // A client that half-closes will send no more stdin.
  call.on("end", () => {
    if (open.stdin) closeStdin();
  });
  call.resume();

  const onAbort = (): void => finish({ error: new HullError("UNAVAILABLE", "the client cancelled the exec") });
  ctx.signal.addEventListener("abort", onAbort);
  if (ctx.signal.aborted) onAbort();
  void session.finished.then(
    (exit) => finish({ exitCode: exit.code }),
    (error: unknown) => finish({ error }),
  );
  try {
    const result = await outcome;
    if (result.error !== undefined) {
      proc.kill();
      throw result.error;
    }
    if (result.exitCode === undefined) {
      proc.detach();
      return;
    }
    send({ message: { $case: "exitCode", value: result.exitCode } });
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

export function execHandlers(engine: Engine, rpc: RpcWrapper): Pick<ContainerServiceServer, "execContainer" | "execSync"> {
  return {
    execContainer: rpc.bidi("ExecContainer", (call, ctx) => execContainer(engine, call, ctx)),
    execSync: rpc.unary("ExecSync", (req, ctx) => execSync(engine, req, ctx)),
  };
}
