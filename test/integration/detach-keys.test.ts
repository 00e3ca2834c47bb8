// The detach keys through a real hulld, on both paths that read them: an
// attach (src/ops/attach.ts) and an exec (src/service/exec-handler.ts) share
// one matcher, so a sequence that overlaps itself ("a,a,b" in "xaaab")
// detaches both, and what preceded it reaches the process.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { ExecContainerRequest, OutputStream, type DeepPartial, type ExecContainerResponse } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { S, SLEEP, assertState, create, createStarted, inspect, uniqueName, until } from "../helpers/fixtures.js";
import { openAttach } from "../helpers/attach.js";

describe("detach keys that overlap themselves", () => {
  const s = daemonSuite({ daemon: { logLevel: "warn" } });
  const api = (): Api => s.d.api;

  it('attach: keys "a,a,b" and stdin "xaaab" detach, forwarding "xa"', async () => {
    const c = await create(api(), s.rootfs, ["sh", "-c", 'read l; echo "got $l"; exec sleep 1000'], { stdin: true });
    s.made.push(c.id);
    const a = openAttach(s.d.client, { id: c.id, stdin: true, stdout: true, stderr: true, start: true, detachKeys: "a,a,b" });
    await a.until("attached", (r) => r.attached !== undefined);
    a.stdin("xaaab");
    const r = await a.finished;
    assert.equal(r.error, undefined, `${r.error?.code} ${r.error?.details}`);
    assert.equal(r.detached, true);
    assert.equal(r.exitCode, undefined);
    assertState(await inspect(api(), c.id), S.CONTAINER_STATE_RUNNING);
    // conmon closes the container's stdin when the client leaves: read gets "xa" and end of file.
    const log = await until("the shell's answer in the log", async () => {
      const replay = await openAttach(s.d.client, { id: c.id, stdout: true, logs: true, stream: false }).finished;
      return replay.stdout.includes("got") ? replay.stdout : undefined;
    });
    assert.equal(log, "got xa\n");
  });

  it('exec: keys "a,a,b" and stdin "xaaab" detach the session, forwarding "xa"', async () => {
    const c = await createStarted(api(), s.rootfs, [...SLEEP]);
    s.made.push(c.id);
    const file = `/tmp/${uniqueName("got")}`;
    const call: grpc.ClientDuplexStream<ExecContainerRequest, ExecContainerResponse> = s.d.client.execContainer({ deadline: Date.now() + 30_000 });
    let stdout = "";
    let exitCode: number | undefined;
    call.on("data", (res: ExecContainerResponse) => {
      const m = res.message;
      if (m?.$case === "output" && m.value.stream === OutputStream.OUTPUT_STREAM_STDOUT) stdout += m.value.data.toString();
      if (m?.$case === "exitCode") exitCode = m.value;
    });
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      call.on("error", (err: grpc.ServiceError) => resolve(err));
      call.on("end", () => resolve(undefined));
    });
    const send = (req: DeepPartial<ExecContainerRequest>): boolean => call.write(ExecContainerRequest.fromPartial(req));
    // Raw mode: the two bytes reach head without a newline.
    send({
      message: {
        $case: "open",
        value: {
          id: c.id,
          command: ["sh", "-c", `stty raw -echo; echo ready; head -c 2 > ${file}; exec sleep 1000`],
          tty: true,
          stdin: true,
          detachKeys: "a,a,b",
        },
      },
    });
    await until("the exec's shell", () => Promise.resolve(stdout.includes("ready") ? true : undefined));
    send({ message: { $case: "stdin", value: Buffer.from("xaaab") } });
    assert.equal(await ended, undefined, "the call ends OK");
    assert.equal(exitCode, undefined, "a detach sends no exit code");
    const got = await until("what the exec read", async () => {
      const res = await api().execSync({ id: c.id, command: ["cat", file] });
      return res.exitCode === 0 && res.stdout.length === 2 ? res.stdout.toString() : undefined;
    });
    assert.equal(got, "xa");
  });
});
