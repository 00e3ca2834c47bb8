// A test client for AttachContainer: opens the call, collects what the server
// sends in order, and lets a test wait on conditions of that output.
import * as grpc from "@grpc/grpc-js";
import {
  AttachContainerRequest,
  OutputStream,
  type AttachContainerResponse,
  type AttachOpen,
  type Container,
  type ContainerServiceClient,
  type DeepPartial,
} from "../../src/gen/hull/v1/container.js";

export interface AttachResult {
  attached?: Container;
  stdout: string;
  stderr: string;
  /** Output in arrival order, one entry per frame. */
  frames: Array<{ stream: "stdout" | "stderr"; data: Buffer }>;
  exitCode?: number;
  detached: boolean;
  /** The call's error, if it ended with one. */
  error?: grpc.ServiceError;
  /** Message kinds in arrival order ("attached", "output", "exitCode", "detached"). */
  order: string[];
}

export interface AttachClient {
  call: grpc.ClientDuplexStream<AttachContainerRequest, AttachContainerResponse>;
  /** What has arrived so far (live object). */
  result: AttachResult;
  send(msg: DeepPartial<AttachContainerRequest>): void;
  stdin(text: string | Buffer): void;
  closeStdin(): void;
  resize(height: number, width: number): void;
  /** Half-closes the client's side. */
  end(): void;
  /** Resolves once `check` holds for the result (checked after every message), or rejects when the call ends first. */
  until(what: string, check: (r: AttachResult) => boolean): Promise<AttachResult>;
  /** Resolves when the call has ended (with or without an error). */
  finished: Promise<AttachResult>;
}

export function openAttach(client: ContainerServiceClient, open: DeepPartial<AttachOpen>, deadlineMs = 60_000): AttachClient {
  const call = client.attachContainer(new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
  const result: AttachResult = { stdout: "", stderr: "", frames: [], detached: false, order: [] };
  const waiters: Array<{ check: (r: AttachResult) => boolean; resolve: (r: AttachResult) => void; reject: (e: Error) => void; what: string }> = [];
  let ended = false;
  const poke = (): void => {
    for (const w of [...waiters]) {
      if (w.check(result)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(result);
      } else if (ended) {
        waiters.splice(waiters.indexOf(w), 1);
        w.reject(new Error(`attach ended before ${w.what}: ${JSON.stringify({ ...result, frames: undefined, attached: undefined })}`));
      }
    }
  };
  call.on("data", (msg: AttachContainerResponse) => {
    const m = msg.message;
    if (!m) return;
    result.order.push(m.$case);
    if (m.$case === "attached") result.attached = m.value;
    if (m.$case === "exitCode") result.exitCode = m.value;
    if (m.$case === "detached") result.detached = m.value;
    if (m.$case === "output") {
      const stream = m.value.stream === OutputStream.OUTPUT_STREAM_STDERR ? "stderr" : "stdout";
      result.frames.push({ stream, data: m.value.data });
      result[stream] += m.value.data.toString();
    }
    poke();
  });
  const finished = new Promise<AttachResult>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      ended = true;
      poke();
      resolve(result);
    };
    call.on("error", (err: grpc.ServiceError) => {
      result.error = err;
      finish();
    });
    call.on("status", () => setImmediate(finish));
    call.on("end", () => setImmediate(finish));
  });
  const send = (msg: DeepPartial<AttachContainerRequest>): void => {
    call.write(AttachContainerRequest.fromPartial(msg));
  };
  send({ message: { $case: "open", value: open } });
  return {
    call,
    result,
    send,
    stdin: (text) => send({ message: { $case: "stdin", value: Buffer.from(text) } }),
    closeStdin: () => send({ message: { $case: "closeStdin", value: true } }),
    resize: (height, width) => send({ message: { $case: "resize", value: { height, width } } }),
    end: () => call.end(),
    until: (what, check) =>
      new Promise<AttachResult>((resolve, reject) => {
        if (check(result)) return resolve(result);
        if (ended) return reject(new Error(`attach ended before ${what}`));
        waiters.push({ check, resolve, reject, what });
      }),
    finished,
  };
}
