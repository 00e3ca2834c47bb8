// The standard gRPC surface: grpc.health.v1.Health, server reflection (so
// `buf curl` works with no proto files), and the socket's permissions.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { daemonSuite } from "../helpers/suite.js";
import { errorInfo } from "../helpers/api.js";
import { SLEEP, create, removeAll } from "../helpers/fixtures.js";

const execFileP = promisify(execFile);
const BUF = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
const SERVING = 1;

function encodeHealthCheckRequest(service: string): Buffer {
  const w = new BinaryWriter();
  if (service !== "") w.uint32(10).string(service);
  return Buffer.from(w.finish());
}

function decodeHealthCheckResponse(buf: Buffer): number {
  const r = new BinaryReader(buf);
  let status = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 0) status = r.int32();
    else r.skip(tag & 7);
  }
  return status;
}

function healthCheck(socket: string, service: string): Promise<number> {
  const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  return new Promise<number>((resolve, reject) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      encodeHealthCheckRequest,
      decodeHealthCheckResponse,
      service,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + 10_000) },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res ?? 0);
      },
    );
  });
}

describe("health, reflection and socket", () => {
  let bufCache: string;
  before(async () => {
    bufCache = await mkdtemp("/tmp/hb-");
  });

  const s = daemonSuite({ extraDirs: () => [bufCache] });

  /** `buf curl` over the daemon's unix socket, schema from server reflection only. */
  async function bufCurl(args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileP(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", s.d.socket, ...args], {
        env: { ...process.env, BUF_CACHE_DIR: bufCache },
        timeout: 60_000,
        cwd: bufCache,
      });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      assert.fail(`buf curl ${args.join(" ")} failed: ${e.message}\n${e.stderr ?? ""}`);
    }
  }

  for (const service of ["", "hull.v1.ContainerService"]) {
    it(`Health/Check(${JSON.stringify(service)}) is SERVING`, async () => {
      assert.equal(await healthCheck(s.d.socket, service), SERVING);
    });
  }

  it("Health/Check of an unknown service is NOT_FOUND", async () => {
    try {
      const status = await healthCheck(s.d.socket, "no.such.Service");
      assert.fail(`expected NOT_FOUND, got status ${status}`);
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assert.equal(errorInfo(err).code, grpc.status.NOT_FOUND);
    }
  });

  for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
    it(`reflection (${protocol}) lists the services`, async () => {
      const out = await bufCurl(["--reflect-protocol", protocol, "--list-services", "http://localhost"]);
      const services = out
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of ["hull.v1.ContainerService", "hull.v1.ImageService", "runtime.v1.RuntimeService", "runtime.v1.ImageService"]) {
        assert.ok(services.includes(s), `${s} missing from ${JSON.stringify(services)}`);
      }
    });
  }

  it("buf curl can call grpc.health.v1.Health/Check with the schema from reflection", async () => {
    const out = JSON.parse(await bufCurl(["-d", "{}", "http://localhost/grpc.health.v1.Health/Check"])) as { status?: string };
    assert.equal(out.status, "SERVING");
  });

  it("buf curl ListContainers works with the schema from reflection (no proto files)", async () => {
    const empty: unknown = JSON.parse(await bufCurl(["-d", "{}", "http://localhost/hull.v1.ContainerService/ListContainers"]));
    assert.ok(typeof empty === "object" && empty !== null, "a JSON object");
    const emptyList = (empty as { containers?: unknown }).containers;
    assert.ok(emptyList === undefined || (Array.isArray(emptyList) && emptyList.length === 0), JSON.stringify(empty));

    const c = await create(s.d.api, s.rootfs, SLEEP, { labels: { via: "buf" } });
    s.made.push(c.id);
    const out = await bufCurl(["-d", JSON.stringify({ name: c.name }), "http://localhost/hull.v1.ContainerService/ListContainers"]);
    const parsed = JSON.parse(out) as { containers?: Array<{ id?: string; name?: string; state?: string; config?: { labels?: Record<string, string> } }> };
    assert.ok(Array.isArray(parsed.containers), `a containers key: ${out}`);
    assert.equal(parsed.containers.length, 1, out);
    const [only] = parsed.containers;
    assert.equal(only?.id, c.id);
    assert.equal(only?.name, c.name);
    assert.equal(only?.state, "CONTAINER_STATE_CONFIGURED");
    assert.deepEqual(only?.config?.labels, { via: "buf" });
    await removeAll(s.d.api, [c.id]);
  });

  it("the socket is a unix socket with mode 0660", async () => {
    const st = await stat(s.d.socket);
    assert.ok(st.isSocket(), `${s.d.socket} is a socket`);
    assert.equal((st.mode & 0o777).toString(8), "660");
  });
});
