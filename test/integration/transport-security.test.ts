// Transport security: who can reach hulld's unix sockets (mode, group,
// directory), the TCP listener's mutual TLS, message size limits, and the
// caller recorded on each RPC's span (unix peer credentials, TLS subject).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { ContainerServiceClient } from "../../src/gen/hull/v1/container.js";
import { startDaemon, type Daemon } from "../../src/daemon.js";
import { clientPids, trackedUnixConnections } from "../../src/service/peer.js";
import { makeApi, errorInfo, type Api } from "../helpers/api.js";
import { HULLD_PATH, runHulld, startTestDaemon } from "../helpers/daemon.js";
import type { ProbeResult } from "../helpers/grpc-probe.js";
import { makePki } from "../helpers/pki.js";

const execFileP = promisify(execFile);
const PROBE = fileURLToPath(new URL("../helpers/grpc-probe.js", import.meta.url));
const MiB = 1024 * 1024;

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

/** The span is ended after the reply (it waits briefly for the peer lookup): poll for it. */
async function waitForSpan(what: string, match: (s: ReadableSpan) => boolean): Promise<ReadableSpan> {
  for (let i = 0; i < 100; i++) {
    const span = exporter.getFinishedSpans().find(match);
    if (span) return span;
    await new Promise((r) => setTimeout(r, 50));
  }
  const names = exporter.getFinishedSpans().map((s) => `${s.name} ${JSON.stringify(s.attributes)}`);
  assert.fail(`no span ${what}; finished spans:\n${names.join("\n")}`);
}

function isListSpan(s: ReadableSpan): boolean {
  return s.name === "hull.v1.ContainerService/ListContainers";
}

/** Runs the probe client as `user` (its own uid, gid and supplementary groups). */
async function probeAs(user: TestUser, socket: string): Promise<ProbeResult> {
  const { stdout } = await execFileP("setpriv", ["--reuid", user.name, "--regid", user.name, "--init-groups", process.execPath, PROBE, socket], {
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  return JSON.parse(stdout.trim()) as ProbeResult;
}

async function expectCode(promise: Promise<unknown>, code: grpc.status, what: string): Promise<string> {
  try {
    await promise;
  } catch (err) {
    const info = errorInfo(err);
    assert.equal(info.code, code, `${what}: expected ${grpc.status[code]}, got ${grpc.status[info.code]}: ${info.message}`);
    return info.message;
  }
  assert.fail(`${what}: expected ${grpc.status[code]}, the call succeeded`);
}

describe("transport security", () => {
  let base = "";
  let user: TestUser | undefined;
  const daemons: Daemon[] = [];
  const clients: ContainerServiceClient[] = [];

  function testUser(): TestUser {
    assert.ok(user, "the test user exists");
    return user;
  }

  async function daemonIn(dir: string, extra: Partial<Parameters<typeof startDaemon>[0]> = {}): Promise<Daemon> {
    const d = await startDaemon({
      socket: join(dir, "hull.sock"),
      root: join(dir, "root"),
      runRoot: join(dir, "run"),
      runtime: "runc",
      log: pino({ level: "silent" }),
      ...extra,
    });
    daemons.push(d);
    return d;
  }

  function unixApi(socket: string): Api {
    const client = new ContainerServiceClient(`unix:${socket}`, grpc.credentials.createInsecure());
    clients.push(client);
    return makeApi(client);
  }

  // The probe runs as the test user: every dir above it must be traversable
  // by others (a clone under `mktemp -d` is 0700). Opened for the test and
  // given back its mode after.
  const traverseGranted: { dir: string; mode: number }[] = [];

  before(async () => {
    for (let dir = dirname(PROBE); ; dir = dirname(dir)) {
      const mode = (await stat(dir)).mode & 0o7777;
      if ((mode & 0o001) === 0) {
        await chmod(dir, mode | 0o001);
        traverseGranted.push({ dir, mode });
      }
      if (dir === dirname(dir)) break;
    }
    base = await mkdtemp("/tmp/hts-");
    // Traversable by the test user: only the socket's own mode and group may stop it.
    await chmod(base, 0o755);
    const name = `hulltest-${randomBytes(4).toString("hex")}`;
    await execFileP("useradd", ["--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name]);
    const id = async (flag: string): Promise<number> => Number((await execFileP("id", [flag, name])).stdout.trim());
    user = { name, uid: await id("-u"), gid: await id("-g") };
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const d of daemons) await d.close().catch(() => undefined);
    if (user) {
      await execFileP("userdel", [user.name]).catch(() => undefined);
      // userdel removes the user's own group; make sure, and report a failure to remove the user.
      await execFileP("groupdel", [user.name]).catch(() => undefined);
      const left = await readFile("/etc/passwd", "utf8");
      assert.ok(!left.split("\n").some((l) => l.startsWith(`${user?.name}:`)), `user ${user.name} was not removed`);
    }
    await provider.shutdown();
    if (base) await rm(base, { recursive: true, force: true });
    for (const { dir, mode } of traverseGranted.reverse()) await chmod(dir, mode);
  });

  it("reads the client's pid from ss output (the line whose peer is the accepted socket)", () => {
    const ss = [
      'u_str ESTAB 0 0 /run/hull/hull sock 1420654 * 1420653 users:(("node",pid=31181,fd=21))',
      'u_str ESTAB 0 0 * 1420653 * 1420654 users:(("hull",pid=4242,fd=20),("hull",pid=4243,fd=20))',
      "u_str ESTAB 0 0 * 1527 * 1526",
      'u_str ESTAB 0 0 * 99 * 1527 users:(("x",pid=7,fd=3))',
    ].join("\n");
    assert.deepEqual([...clientPids(ss, new Set([1420654, 1526, 5]))], [[1420654, 4242]]);
  });

  describe("unix socket, default group", () => {
    let dir = "";
    let d: Daemon;
    before(async () => {
      dir = join(base, "a");
      await mkdir(dir, { mode: 0o755 });
      await chmod(dir, 0o755);
      d = await daemonIn(dir);
    });

    it("is a 0660 socket owned by root:root", async () => {
      const st = await stat(join(dir, "hull.sock"));
      assert.ok(st.isSocket());
      assert.equal((st.mode & 0o777).toString(8), "660");
      assert.equal(st.uid, 0);
      assert.equal(st.gid, 0);
      assert.ok(d.tcpAddress === undefined, "no TCP listener without --listen-tcp");
    });

    it("refuses another user: connect fails with EACCES, gRPC with UNAVAILABLE", async () => {
      const r = await probeAs(testUser(), join(dir, "hull.sock"));
      assert.equal(r.uid, testUser().uid, "the probe ran as the test user");
      assert.equal(r.connect, "EACCES");
      assert.equal(r.grpcCode, grpc.status.UNAVAILABLE, r.grpcDetails);
    });

    it("a root client's spans carry its pid, uid 0, gid 0 and net.transport=unix, on every call of the connection", async () => {
      exporter.reset();
      const api = unixApi(join(dir, "hull.sock"));
      await api.listContainers({});
      await api.listContainers({});
      const listSpans = (): ReadableSpan[] => exporter.getFinishedSpans().filter(isListSpan);
      for (let i = 0; i < 100 && listSpans().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(listSpans().length, 2);
      for (const span of listSpans()) {
        assert.equal(span.attributes["net.transport"], "unix");
        assert.equal(span.attributes["hull.peer.pid"], process.pid);
        assert.equal(span.attributes["hull.peer.uid"], 0);
        assert.equal(span.attributes["hull.peer.gid"], 0);
      }
    });

    it("refuses a 20 MiB message with RESOURCE_EXHAUSTED and keeps serving", async () => {
      const api = unixApi(join(dir, "hull.sock"));
      const details = await expectCode(
        api.createContainer({ config: { labels: { big: "x".repeat(20 * MiB) } } }),
        grpc.status.RESOURCE_EXHAUSTED,
        "a 20 MiB CreateContainer",
      );
      assert.match(details, /larger than max/i);
      const after = await api.listContainers({});
      assert.equal(after.containers.length, 0);
    });

    it("forgets a connection once it closes", async () => {
      const before = trackedUnixConnections();
      // Its own connection: grpc-js otherwise shares one between clients of the same target.
      const client = new ContainerServiceClient(`unix:${join(dir, "hull.sock")}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      await makeApi(client).listContainers({});
      assert.equal(trackedUnixConnections(), before + 1, "the new connection is tracked while open");
      client.close();
      for (let i = 0; i < 100 && trackedUnixConnections() > before; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(trackedUnixConnections(), before);
    });
  });

  describe("unix socket with --socket-group", () => {
    let sockDir = "";
    before(async () => {
      const dir = join(base, "b");
      await mkdir(dir, { mode: 0o755 });
      await chmod(dir, 0o755);
      // hulld creates the socket directory itself.
      sockDir = join(dir, "sock");
      await startDaemon({
        socket: join(sockDir, "hull.sock"),
        httpSocket: join(sockDir, "http.sock"),
        root: join(dir, "root"),
        runRoot: join(dir, "run"),
        runtime: "runc",
        socketGroup: testUser().name,
        log: pino({ level: "silent" }),
      }).then((d) => daemons.push(d));
    });

    it("creates the directory 0750 and both sockets 0660, owned by the group", async () => {
      const dirSt = await stat(sockDir);
      assert.equal((dirSt.mode & 0o777).toString(8), "750");
      assert.equal(dirSt.gid, testUser().gid);
      for (const name of ["hull.sock", "http.sock"]) {
        const st = await stat(join(sockDir, name));
        assert.ok(st.isSocket(), name);
        assert.equal((st.mode & 0o777).toString(8), "660", name);
        assert.equal(st.uid, 0, name);
        assert.equal(st.gid, testUser().gid, name);
      }
    });

    it("lets a member of the group call, and its span names the member's pid, uid and gid", async () => {
      exporter.reset();
      const r = await probeAs(testUser(), join(sockDir, "hull.sock"));
      assert.equal(r.connect, "ok");
      assert.equal(r.grpcCode, grpc.status.OK, r.grpcDetails);
      const span = await waitForSpan(`ListContainers from pid ${r.pid}`, (s) => isListSpan(s) && s.attributes["hull.peer.pid"] === r.pid);
      assert.equal(span.attributes["net.transport"], "unix");
      assert.equal(span.attributes["hull.peer.uid"], testUser().uid);
      assert.equal(span.attributes["hull.peer.gid"], testUser().gid);
    });
  });

  describe("TCP with mutual TLS", () => {
    let pki = "";
    let address = "";
    before(async () => {
      pki = join(base, "pki");
      await makePki(pki);
      const dir = join(base, "c");
      await mkdir(dir);
      const d = await daemonIn(dir, {
        tcp: { host: "127.0.0.1", port: 0, certFile: join(pki, "server.crt"), keyFile: join(pki, "server.key"), clientCaFile: join(pki, "ca.crt") },
      });
      assert.ok(d.tcpAddress, "the daemon reports its TCP address");
      address = d.tcpAddress;
    });

    async function tlsApi(clientName?: string): Promise<Api> {
      const ca = await readFile(join(pki, "ca.crt"));
      const creds = clientName
        ? grpc.credentials.createSsl(ca, await readFile(join(pki, `${clientName}.key`)), await readFile(join(pki, `${clientName}.crt`)))
        : grpc.credentials.createSsl(ca);
      const client = new ContainerServiceClient(address, creds);
      clients.push(client);
      return makeApi(client);
    }

    it("refuses a client without a certificate (UNAVAILABLE)", async () => {
      await expectCode((await tlsApi()).listContainers({}, { deadlineMs: 15_000 }), grpc.status.UNAVAILABLE, "no client certificate");
    });

    it("refuses a client whose certificate another CA signed (UNAVAILABLE)", async () => {
      await expectCode((await tlsApi("rogue-client")).listContainers({}, { deadlineMs: 15_000 }), grpc.status.UNAVAILABLE, "a rogue CA's certificate");
    });

    it("serves a client with a certificate, and its span names the certificate's subject", async () => {
      exporter.reset();
      const res = await (await tlsApi("client")).listContainers({ name: "over-tls" });
      assert.equal(res.containers.length, 0);
      const span = await waitForSpan("ListContainers over TLS", (s) => isListSpan(s) && s.attributes["hull.peer.subject"] !== undefined);
      assert.equal(span.attributes["hull.peer.subject"], "hull-test-client");
      assert.equal(span.attributes["net.transport"], "ip_tcp");
      assert.equal(span.attributes["net.sock.peer.addr"], "127.0.0.1");
      assert.equal(span.attributes["hull.peer.pid"], undefined);
    });
  });

  describe("start-up checks", () => {
    it("hulld --listen-tcp without the TLS flags exits non-zero naming what is missing", async () => {
      const dir = join(base, "d");
      const args = [HULLD_PATH, "--socket", join(dir, "hull.sock"), "--root", join(dir, "root"), "--run-root", join(dir, "run"), "--listen-tcp", "127.0.0.1:0"];
      const none = await runHulld(args);
      assert.notEqual(none.code, 0, none.output);
      assert.match(none.output, /--listen-tcp 127\.0\.0\.1:0 needs mutual TLS; missing --tls-cert, --tls-key, --tls-client-ca/);
      const some = await runHulld([...args, "--tls-cert", "/nonexistent/cert.pem"]);
      assert.notEqual(some.code, 0, some.output);
      assert.match(some.output, /missing --tls-key, --tls-client-ca/);
      assert.doesNotMatch(some.output, /hulld listening/);
      const unreadable = await runHulld([
        ...args,
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
        "--tls-client-ca",
        "/nonexistent/ca.pem",
      ]);
      assert.notEqual(unreadable.code, 0, unreadable.output);
      assert.match(unreadable.output, /--tls-cert \/nonexistent\/cert\.pem: ENOENT/);
    });

    it("hulld refuses an unknown --socket-group", async () => {
      const dir = join(base, "e");
      const group = `hull-no-such-group-${randomBytes(3).toString("hex")}`;
      const r = await runHulld([
        HULLD_PATH,
        "--socket",
        join(dir, "hull.sock"),
        "--root",
        join(dir, "root"),
        "--run-root",
        join(dir, "run"),
        "--socket-group",
        group,
      ]);
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, new RegExp(`--socket-group ${group}: no such group in /etc/group`));
    });

    it("refuses a socket directory that is world-writable without the sticky bit", async () => {
      const dir = join(base, "ww");
      await mkdir(dir);
      await chmod(dir, 0o777);
      await assert.rejects(daemonIn(dir), /world-writable without the sticky bit/);
      await chmod(dir, 0o1777);
      const d = await daemonIn(dir);
      assert.ok(d.server, "a sticky world-writable directory (like /tmp) is accepted");
    });

    it("HULL_MAX_MESSAGE_BYTES lowers the limit: a 3 MiB message is refused, hulld keeps serving", async () => {
      const td = await startTestDaemon({ env: { HULL_MAX_MESSAGE_BYTES: String(2 * MiB) } });
      try {
        await expectCode(
          td.api.createContainer({ config: { labels: { big: "x".repeat(3 * MiB) } } }),
          grpc.status.RESOURCE_EXHAUSTED,
          "a 3 MiB CreateContainer",
        );
        assert.equal((await td.api.listContainers({})).containers.length, 0);
        assert.ok(td.running(), "hulld still runs");
      } finally {
        await td.cleanup();
      }
    });
  });
});
