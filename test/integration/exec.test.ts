// ExecSync and ExecContainer against a real hulld (runc + conmon's exec mode):
// output and exit codes, timeouts, tty and stdin, resize, refusals, session
// records in Inspect, events, Cleanup's EXEC_SESSIONS_ACTIVE, and `hull exec`.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import {
  type ContainerServiceClient,
  type DeepPartial,
  type ExecContainerRequest,
  type ExecContainerResponse,
  ExecContainerRequest as ExecReq,
  type ExecOpen,
  type Event,
  type EventsResponse,
  OutputStream,
} from "../../src/gen/hull/v1/container.js";
import { pidAlive } from "../helpers/daemon.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError, errorInfo, type Api } from "../helpers/api.js";
import { IGNORE_TERM, S, SLEEP, assertState, create, createStarted, inspect, must, pending, resolved, until, waitExited } from "../helpers/fixtures.js";

const FP = grpc.status.FAILED_PRECONDITION;
const HULL_CLI = fileURLToPath(new URL("../../src/cli/hull.js", import.meta.url));

/** One ExecContainer call, driven by the test: messages in, frames collected. */
class ExecCall {
  readonly stream: grpc.ClientDuplexStream<ExecContainerRequest, ExecContainerResponse>;
  stdout = "";
  stderr = "";
  sessionId = "";
  exitCode: number | undefined;
  private waiters: (() => void)[] = [];
  readonly ended: Promise<{ error?: grpc.ServiceError }>;

  constructor(client: ContainerServiceClient, open: DeepPartial<ExecOpen>) {
    this.stream = client.execContainer({ deadline: Date.now() + 60_000 });
    this.stream.on("data", (res: ExecContainerResponse) => {
      const m = res.message;
      if (m?.$case === "output") {
        if (m.value.stream === OutputStream.OUTPUT_STREAM_STDERR) this.stderr += m.value.data.toString();
        else this.stdout += m.value.data.toString();
      } else if (m?.$case === "sessionId") this.sessionId = m.value;
      else if (m?.$case === "exitCode") this.exitCode = m.value;
      for (const w of this.waiters.splice(0)) w();
    });
    this.ended = new Promise((resolve) => {
      this.stream.on("error", (error: grpc.ServiceError) => resolve({ error }));
      this.stream.on("end", () => resolve({}));
    });
    this.send({ message: { $case: "open", value: open as ExecOpen } });
  }

  send(req: DeepPartial<ExecContainerRequest>): void {
    this.stream.write(ExecReq.fromPartial(req));
  }

  stdin(text: string): void {
    this.send({ message: { $case: "stdin", value: Buffer.from(text) } });
  }

  /** Resolves once probe() holds, re-checked after each response (event driven). */
  async until(what: string, probe: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!probe()) {
      const outcome = await Promise.race([new Promise<"data">((resolve) => this.waiters.push(() => resolve("data"))), this.ended.then(() => "ended" as const)]);
      if (outcome === "ended" && !probe())
        assert.fail(`stream ended before ${what}: stdout=${JSON.stringify(this.stdout)} stderr=${JSON.stringify(this.stderr)}`);
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    }
  }

  async done(): Promise<number> {
    const { error } = await this.ended;
    if (error) throw error;
    return must(this.exitCode, `exit code (stdout=${JSON.stringify(this.stdout)})`);
  }
}

/** The container's stored exec events (a replay-only Events call). */
function storedEvents(client: ContainerServiceClient, id: string): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const events: Event[] = [];
    const sub = client.events({ containers: [id], types: ["exec_start", "exec_exit"], since: new Date(0), until: new Date(), images: [] });
    sub.on("data", (res: EventsResponse) => res.event && events.push(res.event));
    sub.on("error", reject);
    sub.on("end", () => resolve(events));
  });
}

function runCli(socket: string, args: string[], input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [HULL_CLI, "--socket", socket, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

describe("exec", () => {
  let running: string;
  const s = daemonSuite();
  const api = (): Api => s.api;

  before(async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP, { env: ["FROM_CONTAINER=yes"] });
    s.made.push(c.id);
    running = c.id;
  });

  it("ExecSync returns stdout, stderr and the exit code, and records the session", async () => {
    const res = await api().execSync({ id: running, command: ["sh", "-c", "echo x; echo y >&2; exit 3"] });
    assert.equal(res.stdout.toString(), "x\n");
    assert.equal(res.stderr.toString(), "y\n");
    assert.equal(res.exitCode, 3);
    const c = await inspect(api(), running);
    const last = must(c.execSessions.at(-1), "exec session");
    assert.deepEqual(last.command, ["sh", "-c", "echo x; echo y >&2; exit 3"]);
    assert.equal(last.running, false);
    assert.equal(last.exitCode, 3);
    assert.match(last.id, /^[0-9a-f]{32}$/);
  });

  it("ExecSync runs with the container's env plus the request's, working dir and user", async () => {
    const res = await api().execSync({
      id: running,
      command: ["sh", "-c", 'echo "$FROM_CONTAINER $EXTRA $(pwd) $(id -u)"'],
      env: ["EXTRA=1"],
      workingDir: "/tmp",
      user: "nobody",
    });
    assert.equal(res.stderr.toString(), "");
    assert.equal(res.stdout.toString(), "yes 1 /tmp 65534\n");
    assert.equal(res.exitCode, 0);
  });

  it("ExecSync with a timeout kills the command and answers -1 'command timed out'", async () => {
    const started = Date.now();
    const res = await api().execSync({ id: running, command: ["sh", "-c", "echo before; exec sleep 4321"], timeoutSeconds: 1 });
    assert.equal(res.exitCode, -1);
    assert.equal(res.stdout.toString(), "before\n");
    assert.match(res.stderr.toString(), /command timed out$/);
    assert.ok(Date.now() - started < 20_000, "the timeout ended the command well before it would have");
    const sleeping = await api().execSync({ id: running, command: ["sh", "-c", "ps | grep -c '[s]leep 4321' || true"] });
    assert.equal(sleeping.stdout.toString().trim(), "0", "the timed-out process is gone");
  });

  it("refuses bad requests and containers that are not running", async () => {
    await assertGrpcError(api().execSync({ id: running, command: [] }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "command");
    await assertGrpcError(api().execSync({ id: running, command: ["true"], env: ["NOEQUALS"] }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "env[0]");
    await assertGrpcError(
      api().execSync({ id: running, command: ["true"], workingDir: "rel" }),
      grpc.status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
      "working_dir",
    );
    // A working dir the container lacks is the command's failure, as in Podman: 127 missing, 126 not a directory.
    const missingDir = await api().execSync({ id: running, command: ["true"], workingDir: "/no/such/dir" });
    assert.equal(missingDir.exitCode, 127);
    assert.match(missingDir.stderr.toString(), /no such file or directory/);
    const fileAsDir = await api().execSync({ id: running, command: ["true"], workingDir: "/etc/passwd" });
    assert.equal(fileAsDir.exitCode, 126);
    assert.match(fileAsDir.stderr.toString(), /not a directory/);
    await assertGrpcError(api().execSync({ id: "", command: ["true"] }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "id");
    await assertGrpcError(api().execSync({ id: "no-such-container", command: ["true"] }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
    const stopped = await create(api(), s.rootfs, ["true"]);
    s.made.push(stopped.id);
    await assertGrpcError(api().execSync({ id: stopped.id, command: ["true"] }), FP, "CONTAINER_STATE_INVALID", ["configured", "running"]);
    await api().startContainer({ id: stopped.id });
    await waitExited(api(), stopped.id);
    await assertGrpcError(api().execSync({ id: stopped.id, command: ["true"] }), FP, "CONTAINER_STATE_INVALID", "exited");
  });

  it("a missing program exits 127 with the runtime's message", async () => {
    const res = await api().execSync({ id: running, command: ["/no/such/program"] });
    assert.equal(res.exitCode, 127);
    assert.match(res.stderr.toString(), /no such file or directory|not found/i);
  });

  it("ExecContainer streams output, then the session id's exit code", async () => {
    const call = new ExecCall(s.d.client, { id: running, command: ["sh", "-c", "echo out; echo err >&2; exit 7"] });
    assert.equal(await call.done(), 7);
    assert.equal(call.stdout, "out\n");
    assert.equal(call.stderr, "err\n");
    assert.match(call.sessionId, /^[0-9a-f]{32}$/);
    const session = must(
      (await inspect(api(), running)).execSessions.find((x) => x.id === call.sessionId),
      "session in inspect",
    );
    assert.equal(session.exitCode, 7);
    assert.equal(session.running, false);
  });

  it("stdin round trip: cat echoes stdin and close_stdin ends it with 0", async () => {
    const call = new ExecCall(s.d.client, { id: running, command: ["cat"], stdin: true });
    call.stdin("hello ");
    call.stdin("world\n");
    await call.until("the echo", () => call.stdout === "hello world\n");
    call.send({ message: { $case: "closeStdin", value: true } });
    assert.equal(await call.done(), 0);
    assert.equal(call.stdout, "hello world\n");
  });

  it("an interactive exec with a tty: commands typed in run, the exit code comes back, resize lands", async () => {
    const call = new ExecCall(s.d.client, { id: running, command: ["sh"], tty: true, stdin: true, size: { height: 30, width: 100 } });
    await call.until("the session id", () => call.sessionId !== "");
    call.stdin("stty size; echo h''i\n");
    await call.until("stty's first answer", () => call.stdout.includes("30 100"));
    await call.until("hi", () => call.stdout.includes("hi"));
    call.send({ message: { $case: "resize", value: { height: 40, width: 120 } } });
    call.stdin("stty size\n");
    await call.until("the new size", () => call.stdout.includes("40 120"));
    call.stdin("exit 4\n");
    assert.equal(await call.done(), 4);
    assert.equal(call.stderr, "", "a tty's output is all stdout");
  });

  it("lists a live session as running, emits exec_start/exec_exit, and a cancelled call kills its exec", async () => {
    const call = new ExecCall(s.d.client, { id: running, command: ["sleep", "100"] });
    await call.until("the session id", () => call.sessionId !== "");
    const live = must(
      (await inspect(api(), running)).execSessions.find((s) => s.id === call.sessionId),
      "live session",
    );
    assert.equal(live.running, true);
    assert.ok(live.pid > 0 && pidAlive(live.pid), "the session's pid is the live process");
    call.stream.cancel();
    await call.ended;
    const ended = await until("the cancelled exec recorded as ended", async () => {
      const s = (await inspect(api(), running)).execSessions.find((x) => x.id === call.sessionId);
      return s && !s.running ? s : undefined;
    });
    assert.equal(ended.exitCode, 137);
    assert.ok(!pidAlive(live.pid));
    const events = await storedEvents(s.d.client, running);
    const start = must(
      events.find((e) => e.type === "exec_start" && e.attributes.execId === call.sessionId),
      "exec_start",
    );
    const exit = must(
      events.find((e) => e.type === "exec_exit" && e.attributes.execId === call.sessionId),
      "exec_exit",
    );
    assert.equal(start.containerId, running);
    assert.equal(exit.attributes.exitCode, "137");
  });

  it("Cleanup refuses while an exec is alive; the container's exit ends the session and cleanup then runs", async () => {
    // Cleanup acts on stopping (and stopped) containers: a stop with a long
    // timeout on a container that ignores SIGTERM holds it in STOPPING, with
    // its exec still alive.
    const c = await createStarted(api(), s.rootfs, IGNORE_TERM);
    s.made.push(c.id);
    const call = new ExecCall(s.d.client, { id: c.id, command: ["sleep", "100"] });
    await call.until("the session id", () => call.sessionId !== "");
    const slowStop = pending(api().stopContainer({ id: c.id, timeoutSeconds: 100 }));
    await until("STOPPING", async () => ((await inspect(api(), c.id)).state === S.CONTAINER_STATE_STOPPING ? true : undefined));
    const refused = await assertGrpcError(api().cleanupContainer({ id: c.id }), FP, "EXEC_SESSIONS_ACTIVE", c.id.slice(0, 12));
    assert.equal(refused.metadata.container, c.id);
    // Kill at once: the exec dies with the container's pid namespace.
    await api().stopContainer({ id: c.id, timeoutSeconds: 0 });
    await resolved(slowStop);
    assert.equal(await call.done(), 137);
    await waitExited(api(), c.id);
    const after = await inspect(api(), c.id);
    assertState(after, S.CONTAINER_STATE_EXITED);
    const session = must(
      after.execSessions.find((x) => x.id === call.sessionId),
      "session",
    );
    assert.equal(session.running, false);
    assert.equal(session.exitCode, 137);
  });

  it("keeps only the last 10 ended sessions", async () => {
    for (let i = 0; i < 12; i++) await api().execSync({ id: running, command: ["true"] });
    const sessions = (await inspect(api(), running)).execSessions;
    assert.equal(sessions.filter((s) => !s.running).length, 10);
  });

  it("hull exec: streams output and exits with the command's status", async () => {
    const r = await runCli(s.d.socket, ["exec", running, "--", "sh", "-c", "echo cli-out; echo cli-err >&2; exit 5"]);
    assert.equal(r.stdout, "cli-out\n");
    assert.equal(r.stderr, "cli-err\n");
    assert.equal(r.code, 5);
    const env = await runCli(s.d.socket, ["exec", "-e", "A=b", "-w", "/tmp", running, "sh", "-c", 'echo "$A $(pwd)"']);
    assert.equal(env.stdout, "b /tmp\n");
    assert.equal(env.code, 0);
    const piped = await runCli(s.d.socket, ["exec", "-i", running, "cat"], "through the pipe\n");
    assert.equal(piped.stdout, "through the pipe\n");
    assert.equal(piped.code, 0);
    const tty = await runCli(s.d.socket, ["exec", "-t", running, "sh", "-c", "tty"]);
    assert.match(tty.stdout, /^\/dev\/pts\/[0-9]+\r?\n$/);
    const stopped = await runCli(s.d.socket, ["exec", "no-such", "--", "true"]);
    assert.equal(stopped.code, 125);
    assert.match(stopped.stderr, /no container/);
  });

  it("refuses exec in a paused container", async () => {
    await api().pauseContainer({ id: running });
    try {
      await assertGrpcError(api().execSync({ id: running, command: ["true"] }), FP, "CONTAINER_STATE_INVALID", "paused");
    } finally {
      await api().unpauseContainer({ id: running });
    }
  });

  it("a client that stops reading is dropped with RESOURCE_EXHAUSTED and its exec killed", async () => {
    const call = new ExecCall(s.d.client, { id: running, command: ["sh", "-c", "exec yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"] });
    await call.until("the session id", () => call.sessionId !== "");
    call.stream.pause();
    const ended = await until("the flooding exec killed", async () => {
      const s = (await inspect(api(), running)).execSessions.find((x) => x.id === call.sessionId);
      return s && !s.running ? s : undefined;
    });
    assert.equal(ended.exitCode, 137);
    call.stream.resume();
    const { error } = await call.ended;
    assert.equal(errorInfo(error).reason, "RESOURCE_EXHAUSTED");
    assert.equal(call.exitCode, undefined);
  });

  it("detach keys leave the exec running; a restarted hulld still records its end", async () => {
    const call = new ExecCall(s.d.client, { id: running, command: ["sh"], tty: true, stdin: true, detachKeys: "ctrl-x,x" });
    await call.until("the session id", () => call.sessionId !== "");
    call.stdin("echo sta''rted\n");
    await call.until("the shell", () => call.stdout.includes("started"));
    call.stdin("\x18x");
    const { error } = await call.ended;
    assert.equal(error, undefined);
    assert.equal(call.exitCode, undefined, "a detach sends no exit code");
    const live = must(
      (await inspect(api(), running)).execSessions.find((x) => x.id === call.sessionId),
      "session",
    );
    assert.equal(live.running, true);
    assert.ok(pidAlive(live.pid));

    await s.d.restart();
    const recovered = must(
      (await inspect(api(), running)).execSessions.find((x) => x.id === call.sessionId),
      "session after restart",
    );
    assert.equal(recovered.running, true, "its monitor is alive: still running");
    process.kill(live.pid, "SIGKILL");
    const ended = await until("the end recorded by the new hulld", async () => {
      const s = (await inspect(api(), running)).execSessions.find((x) => x.id === call.sessionId);
      return s && !s.running ? s : undefined;
    });
    assert.equal(ended.exitCode, 137);
  });

  it("hull exec -it runs in a real terminal (raw mode) and exits with the command's status", async () => {
    const cli = `${process.execPath} ${HULL_CLI} --socket ${s.d.socket} exec -it ${running} sh`;
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = execFile("script", ["-qec", cli, "/dev/null"], { timeout: 30_000 }, (err, stdout) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout });
      });
      child.stdin?.end("stty size; echo h''i; exit 4\n");
    });
    assert.match(r.out, /\bhi\b/);
    assert.equal(r.code, 4, r.out);
  });

  it("ExecContainer's first message must be open", async () => {
    const stream = s.d.client.execContainer();
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      stream.on("error", resolve);
      stream.on("end", () => resolve(undefined));
      stream.on("data", () => undefined);
    });
    stream.write(ExecReq.fromPartial({ message: { $case: "stdin", value: Buffer.from("x") } }));
    const err = must(await ended, "an error");
    assert.equal(errorInfo(err).reason, "INVALID_ARGUMENT");
  });
});
