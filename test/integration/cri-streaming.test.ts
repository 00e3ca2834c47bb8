// The CRI streaming server end to end: Exec, Attach and PortForward URLs from
// a real hulld, driven by Node clients of both transports (SPDY/3.1 and
// WebSocket, test/helpers/streaming.ts) against containers in a pod on a CNI
// network made for this file.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import type { Socket } from "node:net";
import { WebSocket } from "ws";
import { criSuite, type CriPod } from "../helpers/cri-suite.js";
import { podConfig, startInPod, until } from "../helpers/cri.js";
import { makeTestNetwork } from "../helpers/cni-net.js";
import {
  collect,
  httpBody,
  httpGet,
  isRefusal,
  spdyCommand,
  spdyPortForward,
  upgradeSpdy,
  wsCommand,
  wsPortForward,
  type CommandIo,
} from "../helpers/streaming.js";

const run = promisify(execFile);
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const SUCCESS = JSON.stringify({ metadata: {}, status: "Success" });

function exitCodeOf(errorStream: string): number {
  if (errorStream === SUCCESS) return 0;
  const s = JSON.parse(errorStream) as { reason?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } };
  assert.equal(s.reason, "NonZeroExitCode", errorStream);
  return Number(s.details?.causes?.find((c) => c.reason === "ExitCode")?.message);
}

/** Sends newlines until stdout shows want (each line makes the shell print again). */
async function poke(io: CommandIo, want: string): Promise<void> {
  await until(`${JSON.stringify(want)} on the terminal`, async () => {
    if (io.output().includes(want)) return true;
    await io.write("\n");
    await new Promise((r) => setTimeout(r, 200));
    return undefined;
  });
}

describe("CRI streaming (exec, attach, port-forward over SPDY and WebSocket)", () => {
  const suite = criSuite("hull-cri-stream-", { network: makeTestNetwork, env: { HULL_STREAMING_IDLE_TIMEOUT: "4s" } });
  let pod: CriPod;
  let web = "";
  let bigSha = "";

  before(async () => {
    pod = await suite.pod(podConfig());
    web = await startInPod(suite.cri, pod, {
      command: ["sh", "-c", "mkdir -p /www && echo it-works > /www/index.html && head -c 1048576 /dev/urandom > /www/big && exec httpd -f -p 80 -h /www"],
    });
    const r = await until("the web root", async () => {
      const x = await suite.cri.execSync({ containerId: web, cmd: ["sha256sum", "/www/big"], timeout: 10n });
      return x.exitCode === 0 ? x : undefined;
    });
    bigSha = r.stdout.toString().split(" ")[0] ?? "";
  });

  const execUrl = async (cmd: string[], o: { stdin?: boolean; tty?: boolean; stderr?: boolean } = {}): Promise<string> =>
    (await suite.cri.exec({ containerId: web, cmd, stdin: o.stdin ?? false, stdout: true, stderr: o.stderr ?? !o.tty, tty: o.tty ?? false })).url;

  it("Exec over SPDY: stdout and stderr apart, the exit code in the v4 status", async () => {
    const url = await execUrl(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
    const r = await spdyCommand(url);
    assert.equal(r.protocol, "v4.channel.k8s.io");
    assert.equal(r.stdout.toString(), "out\n");
    assert.equal(r.stderr.toString(), "err\n");
    assert.equal(exitCodeOf(r.error), 3);
    const ok = await spdyCommand(await execUrl(["true"]));
    assert.equal(ok.error, SUCCESS);
  });

  it("Exec over WebSocket: v5 and v4, the same streams and status", async () => {
    const v5 = await wsCommand(await execUrl(["sh", "-c", "echo out; echo err >&2; exit 5"]));
    assert.equal(v5.protocol, "v5.channel.k8s.io");
    assert.equal(v5.stdout.toString(), "out\n");
    assert.equal(v5.stderr.toString(), "err\n");
    assert.equal(exitCodeOf(v5.error), 5);
    const v4 = await wsCommand(await execUrl(["sh", "-c", "echo four"]), { protocol: "v4.channel.k8s.io" });
    assert.equal(v4.protocol, "v4.channel.k8s.io");
    assert.equal(v4.stdout.toString(), "four\n");
    assert.equal(v4.error, SUCCESS);
  });

  it("10 MiB through stdin and back byte for byte, over SPDY and over WebSocket", async () => {
    const data = randomBytes(10 * 1024 * 1024);
    for (const client of [spdyCommand, wsCommand]) {
      const r = await client(await execUrl(["cat"], { stdin: true }), { stdin: data });
      assert.equal(r.stdout.length, data.length, client.name);
      assert.equal(sha(r.stdout), sha(data), client.name);
      assert.equal(r.error, SUCCESS, client.name);
    }
  });

  it("a tty exec starts at the client's size and follows its resizes (stty size)", async () => {
    for (const client of [spdyCommand, wsCommand]) {
      const url = await execUrl(["sh", "-c", "stty size; while read line; do stty size; done"], { stdin: true, tty: true });
      const r = await client(url, {
        tty: true,
        size: { width: 100, height: 30 },
        interact: async (io) => {
          await poke(io, "30 100");
          io.resize(91, 31);
          await poke(io, "31 91");
        },
      });
      // poke's newline may be echoed before the shell's first stty: the first size printed is still the client's.
      assert.match(r.stdout.toString(), /^(\r\n)*30 100\r\n/, client.name);
      assert.match(r.stdout.toString(), /31 91/, client.name);
      assert.equal(r.stderr.length, 0);
      assert.equal(r.error, SUCCESS, client.name);
    }
  });

  it("Attach over SPDY and WebSocket: stdin reaches the container, its output comes back, Success when it exits", async () => {
    for (const client of [spdyCommand, wsCommand]) {
      const shell = await startInPod(suite.cri, pod, { command: ["sh"], stdin: true, stdinOnce: true });
      const { url } = await suite.cri.attach({ containerId: shell, stdin: true, stdout: true, stderr: true, tty: false });
      assert.match(url, /\/attach\//);
      const r = await client(url, {
        interact: async (io) => {
          await io.write("echo hello-attach; echo to-stderr >&2\n");
          await until("the attach's output", async () => (io.output().includes("hello-attach") ? true : undefined));
        },
      });
      assert.equal(r.stdout.toString(), "hello-attach\n", client.name);
      assert.equal(r.stderr.toString(), "to-stderr\n", client.name);
      assert.equal(r.error, SUCCESS, client.name);
      // stdin_once: closing the attach's stdin ended the shell.
      const st = await until("the shell's exit", async () => {
        const s = await suite.cri.containerStatus({ containerId: shell, verbose: false });
        return s.status !== undefined && s.status.finishedAt > 0n ? s.status : undefined;
      });
      assert.equal(st.exitCode, 0);
    }
  });

  it("PortForward over SPDY: 10 parallel connections byte for byte; a closed port's refusal on the error stream", async () => {
    const { url } = await suite.cri.portForward({ podSandboxId: pod.id, port: [80] });
    assert.match(url, /\/portforward\//);
    const pf = await spdyPortForward(url);
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => httpGet(pf, 80, i % 2 === 0 ? "/big" : "/index.html")));
      answers.forEach((a, i) => {
        assert.equal(a.error, "", `connection ${i}`);
        if (i % 2 === 0) assert.equal(sha(httpBody(a.answer)), bigSha, `connection ${i}`);
        else assert.equal(httpBody(a.answer).toString(), "it-works\n", `connection ${i}`);
      });
      const refused = await httpGet(pf, 81, "/");
      assert.match(refused.error, new RegExp(`^error forwarding port 81 to pod ${pod.id}, uid : dial tcp4 127.0.0.1:81: connection refused$`));
      assert.equal(refused.answer.length, 0);
      // The session outlives a refused connection.
      assert.equal(httpBody((await httpGet(pf, 80, "/index.html")).answer).toString(), "it-works\n");
    } finally {
      await pf.close();
    }
  });

  it("PortForward tunnelled in a WebSocket (SPDY/3.1+portforward.k8s.io)", async () => {
    const { url } = await suite.cri.portForward({ podSandboxId: pod.id, port: [] });
    const pf = await wsPortForward(url);
    try {
      const answers = await Promise.all([httpGet(pf, 80, "/big"), httpGet(pf, 80, "/index.html")]);
      assert.equal(sha(httpBody(answers[0].answer)), bigSha);
      assert.equal(httpBody(answers[1].answer).toString(), "it-works\n");
    } finally {
      await pf.close();
    }
  });

  it("tokens: unknown, used and mistyped ones are 404; a streaming URL without an upgrade is 400", async () => {
    const url = await execUrl(["true"]);
    const base = url.replace(/\/exec\/.*$/, "");
    const unknown = await upgradeSpdy(`${base}/exec/AAAAAAAAAAAAAAAAAAAAAA`, ["v4.channel.k8s.io"]);
    assert.ok(isRefusal(unknown) && unknown.status === 404);
    assert.equal((await spdyCommand(url)).error, SUCCESS);
    const reused = await upgradeSpdy(url, ["v4.channel.k8s.io"]);
    assert.ok(isRefusal(reused) && reused.status === 404, "a used token");
    const mistyped = await upgradeSpdy((await execUrl(["true"])).replace("/exec/", "/attach/"), ["v4.channel.k8s.io"]);
    assert.ok(isRefusal(mistyped) && mistyped.status === 404, "an exec token on /attach");
    const plain = await fetch(await execUrl(["true"]));
    assert.equal(plain.status, 400);
    const noProtocol = await upgradeSpdy(await execUrl(["true"]), ["v9.channel.k8s.io"]);
    assert.ok(isRefusal(noProtocol) && noProtocol.status === 403 && /unable to negotiate protocol/.test(noProtocol.body));
  });

  it("the RPCs refuse what could not run: a tty with stderr, no streams, a stopped container, an unknown pod", async () => {
    await assert.rejects(suite.cri.exec({ containerId: web, cmd: ["true"], tty: true, stderr: true, stdout: true, stdin: false }), {
      code: status.INVALID_ARGUMENT,
    });
    await assert.rejects(suite.cri.exec({ containerId: web, cmd: ["true"], tty: false, stderr: false, stdout: false, stdin: false }), {
      code: status.INVALID_ARGUMENT,
    });
    await assert.rejects(suite.cri.exec({ containerId: web, cmd: [], tty: false, stderr: false, stdout: true, stdin: false }), {
      code: status.INVALID_ARGUMENT,
    });
    const done = await startInPod(suite.cri, pod, { command: ["true"] });
    await until("the exit", async () => ((await suite.cri.containerStatus({ containerId: done, verbose: false })).status?.state === 2 ? true : undefined));
    await assert.rejects(suite.cri.exec({ containerId: done, cmd: ["true"], stdout: true, stdin: false, stderr: false, tty: false }), {
      code: status.FAILED_PRECONDITION,
    });
    await assert.rejects(suite.cri.portForward({ podSandboxId: "0123456789ab", port: [80] }), { code: status.NOT_FOUND });
    await assert.rejects(suite.cri.portForward({ podSandboxId: pod.id, port: [70000] }), { code: status.INVALID_ARGUMENT });
  });

  it("malformed frames close the connection; nothing leaks (hulld's fds, exec sessions)", async () => {
    const { stdout } = await run("pgrep", ["-f", "--", `--socket ${suite.d.socket}`]);
    const pid = stdout.trim().split("\n")[0] ?? "";
    const fds = async (): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;
    const sessions = async (): Promise<number> =>
      (await suite.d.api.inspectContainer({ id: web })).container?.execSessions.filter((s) => s.running).length ?? -1;
    assert.equal((await spdyCommand(await execUrl(["true"]))).error, SUCCESS);
    const baseline = await fds();
    for (const garbage of [randomBytes(64), Buffer.from("80020001ffffffff", "hex"), Buffer.from("8003000100000004", "hex")]) {
      const up = await upgradeSpdy(await execUrl(["sh", "-c", "sleep 30"]), ["v4.channel.k8s.io"]);
      assert.ok(!isRefusal(up));
      const closed = new Promise<void>((resolve) => up.socket.once("close", () => resolve()));
      up.session.on("error", () => undefined);
      up.socket.write(garbage);
      await closed;
    }
    // A WebSocket frame with a reserved opcode, after the channels opened: ws refuses it and closes.
    const ws = new WebSocket((await execUrl(["sh", "-c", "sleep 30"], { stdin: true })).replace(/^http/, "ws"), ["v5.channel.k8s.io"]);
    await new Promise<void>((resolve, reject) => {
      ws.once("error", reject);
      ws.once("open", () => resolve());
    });
    const wsClosed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.on("error", () => undefined);
    (ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x8f, 0x80, 0, 0, 0, 0]));
    assert.equal(await wsClosed, 1002, "protocol error");
    await until("the WebSocket's exec to end", async () => ((await sessions()) === 0 ? true : undefined));
    assert.equal(await sessions(), 0, "no exec ran for a broken connection");
    await until("hulld's fds back to where they began", async () => ((await fds()) <= baseline ? true : undefined));
  });

  it("an idle connection is closed after --streaming-idle-timeout, and its exec ended", async () => {
    const r = await spdyCommand(await execUrl(["sleep", "600"]));
    // Closed by the server with nothing on the error stream: the client saw no exit.
    assert.equal(r.error, "");
    await until("the idle exec ended", async () => {
      const c = (await suite.d.api.inspectContainer({ id: web })).container;
      const mine = c?.execSessions.find((s) => s.command.join(" ") === "sleep 600");
      return mine !== undefined && !mine.running ? true : undefined;
    });
  });

  it("collect() reads a forwarded stream to its end", async () => {
    const pf = await spdyPortForward((await suite.cri.portForward({ podSandboxId: pod.id, port: [80] })).url);
    try {
      const { data, error } = await pf.connect(80);
      data.end("GET /index.html HTTP/1.0\r\n\r\n");
      assert.match((await collect(data)).toString(), /it-works/);
      assert.equal((await collect(error)).length, 0);
    } finally {
      await pf.close();
    }
  });
});
