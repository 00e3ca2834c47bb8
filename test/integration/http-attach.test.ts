// HTTP attach over hulld's second unix socket, read by a raw HTTP client.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { createStarted, removeAll, until, waitExited } from "../helpers/fixtures.js";
import { OutputStream } from "../../src/gen/hull/v1/container.js";
import { dockerFrame, parseAttachRequest } from "../../src/service/http-attach.js";

interface HttpReply {
  status: number;
  head: string;
  body: Buffer;
}

/** Sends one attach request, then `input` after the response head; resolves when the server closes. */
function rawAttach(socket: string, path: string, input?: string, upgrade = true): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buf = Buffer.alloc(0);
    let sent = false;
    conn.on("connect", () => {
      const headers = upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "";
      conn.write(`POST ${path} HTTP/1.1\r\nHost: hulld\r\n${headers}Content-Length: 0\r\n\r\n`);
    });
    conn.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!sent && input !== undefined && buf.includes("\r\n\r\n")) {
        sent = true;
        conn.write(input);
      }
    });
    conn.on("error", reject);
    conn.on("close", () => {
      const end = buf.indexOf("\r\n\r\n");
      const head = buf.subarray(0, end).toString();
      resolve({ status: Number(head.split(" ")[1]), head, body: buf.subarray(end + 4) });
    });
  });
}

/** Splits Docker's multiplexed stream into [stream byte, text] frames. */
function demux(body: Buffer): Array<[number, string]> {
  const frames: Array<[number, string]> = [];
  let at = 0;
  while (at + 8 <= body.length) {
    const size = body.readUInt32BE(at + 4);
    assert.deepEqual([...body.subarray(at + 1, at + 4)], [0, 0, 0], "three zero bytes after the stream byte");
    frames.push([body[at] ?? -1, body.subarray(at + 8, at + 8 + size).toString()]);
    at += 8 + size;
  }
  assert.equal(at, body.length, "the body is whole frames");
  return frames;
}

function joined(frames: Array<[number, string]>, stream: number): string {
  return frames
    .filter(([s]) => s === stream)
    .map(([, t]) => t)
    .join("");
}

describe("HTTP attach", () => {
  let d: TestDaemon;
  let dir: string;
  let rootfs: string;
  let httpSocket: string;
  const made: string[] = [];

  before(async () => {
    dir = await mkdtemp("/tmp/hh-");
    httpSocket = join(dir, "http.sock");
    rootfs = await buildBusyboxRootfs(join(dir, "rootfs"));
    d = await startTestDaemon({ env: { HULL_HTTP_SOCKET: httpSocket } });
  });

  after(async () => {
    if (d) {
      await removeAll(d.api, made);
      await d.cleanup();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("parses the request line and frames output like Docker", () => {
    const q = parseAttachRequest("POST", "/v1.41/containers/abc/attach?stream=1&stdout=true&detachKeys=ctrl-a,x");
    assert.deepEqual(q, { ref: "abc", stream: true, logs: false, stdin: false, stdout: true, stderr: false, detachKeys: "ctrl-a,x" });
    assert.equal(parseAttachRequest("POST", "/libpod/containers/x/attach?logs=1").logs, true);
    assert.throws(() => parseAttachRequest("POST", "/containers/x/attach"), /at least one of stream and logs/);
    assert.throws(() => parseAttachRequest("GET", "/containers/x/attach?stream=1"), /expected POST/);
    assert.throws(() => parseAttachRequest("POST", "/containers/x/attach?stream=maybe"), /not a boolean/);
    assert.deepEqual([...dockerFrame(OutputStream.OUTPUT_STREAM_STDERR, Buffer.from("ab"))], [2, 0, 0, 0, 0, 0, 0, 2, 97, 98]);
  });

  it("streams framed stdout and stderr, with stdin from the connection", async () => {
    const c = await createStarted(d.api, rootfs, ["sh", "-c", "read x; echo out-$x; echo err-$x >&2"], { stdin: true });
    made.push(c.id);
    const reply = await rawAttach(httpSocket, `/containers/${c.name}/attach?stream=1&stdin=1&stdout=1&stderr=1`, "go\n");
    assert.equal(reply.status, 101, reply.head);
    assert.match(reply.head, /Upgrade: tcp/);
    const frames = demux(reply.body);
    assert.equal(joined(frames, 1), "out-go\n");
    assert.equal(joined(frames, 2), "err-go\n");
    assert.equal((await waitExited(d.api, c.id)).exitCode, 0);
  });

  it("with logs=1&stream=0 returns only what is already in the log, then closes", async () => {
    const c = await createStarted(d.api, rootfs, ["sh", "-c", "echo one; echo two >&2; exec sleep 1000"]);
    made.push(c.id);
    const logPath = (await d.api.inspectContainer({ id: c.id })).container?.logPath ?? "";
    await until("both lines in the log", async () => ((await readFile(logPath, "utf8").catch(() => "")).includes("two") ? true : undefined));
    const reply = await rawAttach(httpSocket, `/containers/${c.id}/attach?logs=1&stream=0&stdout=1&stderr=1`);
    assert.equal(reply.status, 101, reply.head);
    const frames = demux(reply.body);
    assert.equal(joined(frames, 1), "one\n");
    assert.equal(joined(frames, 2), "two\n");
    const after = (await d.api.inspectContainer({ id: c.id })).container;
    assert.equal(after?.state, 3, "the container keeps running");
  });

  it("sends raw bytes for a tty container", async () => {
    const c = await createStarted(d.api, rootfs, ["sh", "-c", "read x; echo hi-$x"], { stdin: true, tty: true });
    made.push(c.id);
    const reply = await rawAttach(httpSocket, `/containers/${c.id}/attach?stream=1&stdin=1&stdout=1`, "yo\n");
    assert.equal(reply.status, 101, reply.head);
    assert.match(reply.body.toString(), /hi-yo/);
    assert.notDeepEqual([...reply.body.subarray(1, 4)], [0, 0, 0], "no multiplexing header on a tty");
  });

  it("refuses with 400 when neither stream nor logs is set, 404 for an unknown container", async () => {
    const c = await createStarted(d.api, rootfs, ["sleep", "1000"]);
    made.push(c.id);
    const neither = await rawAttach(httpSocket, `/containers/${c.id}/attach?stdout=1`);
    assert.equal(neither.status, 400);
    assert.match(neither.body.toString(), /stream and logs/);
    const unknown = await rawAttach(httpSocket, "/containers/nosuchcontainer/attach?stream=1");
    assert.equal(unknown.status, 404);
    const plain = await rawAttach(httpSocket, `/containers/${c.id}/attach?stream=1`, undefined, false);
    assert.equal(plain.status, 400, "an attach without Upgrade is refused");
  });
});
