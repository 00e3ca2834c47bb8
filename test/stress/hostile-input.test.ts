// Hostile input against a real hulld: fast-check requests for every RPC of
// hull.v1.ContainerService and hull.v1.ImageService (test/stress/hostile-requests.ts).
// Properties: every call answers, with OK or a documented refusal
// (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS,
// RESOURCE_EXHAUSTED; UNAVAILABLE/UNAUTHENTICATED for a pull from a registry
// that is not there, PERMISSION_DENIED for docker.io, which the test daemon's
// registries config blocks so that no short name leaves loopback), never INTERNAL or UNKNOWN; hulld stays up and SERVING;
// nothing appears in a canary directory that many inputs point at; every
// container the inputs did create is removed. Calls that block by contract
// (Wait, follow, Events, attach, exec) may also be ended by the test's own
// short deadline.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  type ContainerServiceClient,
  type Container,
  AttachContainerRequest,
  BatchRequest,
  CheckpointContainerRequest,
  CleanupContainerRequest,
  ContainerLogsRequest,
  CreateContainerRequest,
  DeleteArtifactRequest,
  EventsRequest,
  ExecContainerRequest,
  ExecSyncRequest,
  ExportContainerRequest,
  GetArtifactRequest,
  InitContainerRequest,
  InspectContainerRequest,
  KillContainerRequest,
  ListArtifactsRequest,
  ListContainersRequest,
  MountContainerRequest,
  PauseContainerRequest,
  PutArtifactRequest,
  RemoveContainerRequest,
  ResizeTerminalRequest,
  RestartContainerRequest,
  RestoreContainerRequest,
  StartContainerRequest,
  StopContainerRequest,
  SyncContainerRequest,
  UnmountContainerRequest,
  UnpauseContainerRequest,
  WaitContainerRequest,
} from "../../src/gen/hull/v1/container.js";
import {
  ImageServiceClient,
  ImportImageRequest,
  InspectImageRequest,
  ListImagesRequest,
  PullImageRequest,
  RemoveImageRequest,
} from "../../src/gen/hull/v1/image.js";
import { daemonSuite } from "../helpers/suite.js";
import { S, SLEEP, removeAll } from "../helpers/fixtures.js";
import { stressCount } from "../helpers/stress.js";
import { arbitraries, type HostileContext } from "./hostile-requests.js";

const C = grpc.status;
/** Every refusal the API documents for a malformed or impossible request. */
const DOCUMENTED = new Set([C.OK, C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION, C.ALREADY_EXISTS, C.RESOURCE_EXHAUSTED]);
const CALL_DEADLINE_MS = 10_000;
/** How long a stream that blocks by contract is given before the test ends it. */
const STREAM_WAIT_MS = 1000;
const TARGET = "hostile-target";

interface Outcome {
  code: number;
  details: string;
  container?: Container;
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

function unary<Res>(
  start: (md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<Res>) => unknown,
  deadlineMs = CALL_DEADLINE_MS,
): Promise<Outcome & { res?: Res }> {
  return new Promise((resolve) => {
    start(new grpc.Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) =>
      resolve(err ? { code: err.code, details: err.details } : { code: C.OK, details: "", res }),
    );
  });
}

/** Reads a server stream (or a bidi's responses) until its status, or ends it after waitMs. */
function drain(call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>, waitMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => {
      call.cancel();
      finish({ code: C.CANCELLED, details: "ended by the test (the stream was still open)" });
    }, waitMs);
    call.on("data", () => undefined);
    call.on("error", (err: grpc.ServiceError) => finish({ code: err.code, details: err.details }));
    call.on("status", (st: grpc.StatusObject) => finish({ code: st.code, details: st.details }));
  });
}

function healthCheck(socket: string): Promise<number> {
  const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  return new Promise<number>((resolve, reject) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      () => Buffer.alloc(0),
      (b: Buffer) => (b.length >= 2 && b[0] === 0x08 ? (b[1] ?? 0) : 0),
      {},
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + CALL_DEADLINE_MS) },
      (err, status) => {
        client.close();
        if (err) reject(err);
        else resolve(status ?? 0);
      },
    );
  });
}

/** A readable form of a request for failure reports (long strings and buffers cut). */
function describeInput(input: unknown): string {
  return JSON.stringify(input, (_k, v: unknown) => {
    if (typeof v === "string" && v.length > 80) return `${v.slice(0, 40)}…(${v.length} chars)`;
    if (v instanceof Uint8Array || (typeof v === "object" && v !== null && (v as { type?: string }).type === "Buffer"))
      return `<${(v as Uint8Array).length ?? "?"} bytes>`;
    return v;
  }).slice(0, 1500);
}

describe("hostile input", () => {
  let canary = "";
  const created = new Set<string>();
  const s = daemonSuite({
    extraDirs: () => (canary ? [canary] : []),
    beforeCleanup: async (d) => removeAll(d.api, [...created, TARGET]).catch(() => undefined),
  });
  let images: ImageServiceClient;
  const client = (): ContainerServiceClient => s.d.client;
  let inputs = 0;
  const rpcs = new Set<string>();
  const failures: string[] = [];
  const timings: Array<[string, number]> = [];

  before(async () => {
    canary = await mkdtemp("/tmp/hull-canary-");
    images = new ImageServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure());
  });
  after(() => images?.close());

  /** The running tty container most references point at, (re)made when an input removed or stopped it. */
  async function ensureTarget(): Promise<void> {
    const got = await unary<{ container?: Container }>((md, o, cb) =>
      client().inspectContainer(InspectContainerRequest.fromPartial({ id: TARGET }), md, o, cb),
    );
    const state = got.res?.container?.state;
    if (state === S.CONTAINER_STATE_RUNNING) return;
    if (state === S.CONTAINER_STATE_PAUSED) {
      await s.api.unpauseContainer({ id: TARGET });
      return;
    }
    if (got.code === C.OK) await s.api.removeContainer({ id: TARGET, force: true, timeoutSeconds: 0 });
    const c = (await s.api.createContainer({ config: { name: TARGET, rootfsPath: s.rootfs, command: [...SLEEP], tty: true, stopTimeoutSeconds: 1 } }))
      .container;
    assert.ok(c);
    await s.api.startContainer({ id: c.id });
  }

  async function context(): Promise<HostileContext> {
    await ensureTarget();
    const c = (await s.api.inspectContainer({ id: TARGET })).container;
    assert.ok(c);
    return { canary, rootfs: s.rootfs, targetRefs: [c.id, c.name, c.id.slice(0, 12)] };
  }

  /** Runs one RPC's property: `call` makes one call from a generated input and reports its outcome. */
  async function check<T>(
    rpc: string,
    arb: (a: ReturnType<typeof arbitraries>) => fc.Arbitrary<T>,
    call: (input: T) => Promise<Outcome>,
    extra: readonly number[] = [],
    examples: T[] = [],
  ): Promise<void> {
    rpcs.add(rpc);
    const started = Date.now();
    const ctx = await context();
    const allowed = new Set([...DOCUMENTED, ...extra]);
    await fc.assert(
      fc.asyncProperty(arb(arbitraries(ctx)), async (input) => {
        inputs++;
        const o = await call(input);
        if (o.container && o.container.name !== TARGET) created.add(o.container.id);
        if (!allowed.has(o.code)) failures.push(`${rpc}: ${C[o.code] ?? o.code} ${o.details.slice(0, 300)}\n  input: ${describeInput(input)}`);
        // Whatever got created goes at once: inputs must not pile up containers.
        if (created.size > 0) {
          await removeAll(s.api, created);
          created.clear();
        }
      }),
      // The examples run first, every time: inputs that once broke hulld.
      { numRuns: stressCount(40, 300), examples: examples.map((e): [T] => [e]) },
    );
    timings.push([rpc, Date.now() - started]);
    assert.equal(await healthCheck(s.d.socket), 1, `hulld is SERVING after ${rpc}`);
    assert.deepEqual(await readdir(canary), [], `nothing was created in the canary dir by ${rpc}`);
  }

  const u =
    <Req, Res>(
      method: (req: Req, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: Callback<Res>) => unknown,
      make: (p: never) => Req,
      deadlineMs = CALL_DEADLINE_MS,
    ) =>
    (input: unknown): Promise<Outcome> =>
      unary<Res>((md, o, cb) => method.call(client(), make(input as never), md, o, cb), deadlineMs).then((r) => ({
        ...r,
        container: (r.res as { container?: Container } | undefined)?.container,
      }));

  it("ContainerService unary RPCs answer every input with OK or a documented code", async () => {
    const c = (): ContainerServiceClient => client();
    await check("CreateContainer", (a) => a.create, u(c().createContainer, CreateContainerRequest.fromPartial));
    await check("InitContainer", (a) => a.init, u(c().initContainer, InitContainerRequest.fromPartial));
    await check("StartContainer", (a) => a.init, u(c().startContainer, StartContainerRequest.fromPartial));
    await check("ResizeTerminal", (a) => a.resize, u(c().resizeTerminal, ResizeTerminalRequest.fromPartial));
    await check("RestartContainer", (a) => a.stop, u(c().restartContainer, RestartContainerRequest.fromPartial));
    await check("StopContainer", (a) => a.stop, u(c().stopContainer, StopContainerRequest.fromPartial));
    await check("KillContainer", (a) => a.kill, u(c().killContainer, KillContainerRequest.fromPartial));
    await check("PauseContainer", (a) => a.idOnly, u(c().pauseContainer, PauseContainerRequest.fromPartial));
    await check("UnpauseContainer", (a) => a.idOnly, u(c().unpauseContainer, UnpauseContainerRequest.fromPartial));
    await check("MountContainer", (a) => a.idOnly, u(c().mountContainer, MountContainerRequest.fromPartial));
    await check("UnmountContainer", (a) => a.unmount, u(c().unmountContainer, UnmountContainerRequest.fromPartial));
    await check("PutArtifact", (a) => a.artifact, u(c().putArtifact, PutArtifactRequest.fromPartial));
    await check("GetArtifact", (a) => a.artifactName, u(c().getArtifact, GetArtifactRequest.fromPartial));
    await check("DeleteArtifact", (a) => a.artifactName, u(c().deleteArtifact, DeleteArtifactRequest.fromPartial));
    await check("ListArtifacts", (a) => a.idOnly, u(c().listArtifacts, ListArtifactsRequest.fromPartial));
    // Wait blocks until the condition by contract: a short deadline may end it.
    await check("WaitContainer", (a) => a.wait, u(c().waitContainer, WaitContainerRequest.fromPartial, STREAM_WAIT_MS), [C.DEADLINE_EXCEEDED]);
    await check("CleanupContainer", (a) => a.cleanup, u(c().cleanupContainer, CleanupContainerRequest.fromPartial));
    await check("SyncContainer", (a) => a.idOnly, u(c().syncContainer, SyncContainerRequest.fromPartial));
    await check("Batch", (a) => a.batch, u(c().batch, BatchRequest.fromPartial));
    await check("CheckpointContainer", (a) => a.checkpoint, u(c().checkpointContainer, CheckpointContainerRequest.fromPartial));
    await check("RestoreContainer", (a) => a.restore, u(c().restoreContainer, RestoreContainerRequest.fromPartial));
    await check("RemoveContainer", (a) => a.remove, u(c().removeContainer, RemoveContainerRequest.fromPartial));
    await check("InspectContainer", (a) => a.idOnly, u(c().inspectContainer, InspectContainerRequest.fromPartial));
    await check("ListContainers", (a) => a.list, u(c().listContainers, ListContainersRequest.fromPartial));
    await check("ExecSync", (a) => a.execSync, u(c().execSync, ExecSyncRequest.fromPartial));
    assert.deepEqual(failures, [], failures.join("\n"));
  });

  it("ContainerService streams answer random opens and garbage sequences", async () => {
    const deadline = (): Partial<grpc.CallOptions> => ({ deadline: new Date(Date.now() + CALL_DEADLINE_MS) });
    await check(
      "ExportContainer",
      (a) => a.idOnly,
      (req) => drain(client().exportContainer(ExportContainerRequest.fromPartial(req), deadline()), CALL_DEADLINE_MS),
    );
    // follow and Events without until stay open by contract.
    await check(
      "ContainerLogs",
      (a) => a.logs,
      (req) => drain(client().containerLogs(ContainerLogsRequest.fromPartial(req), deadline()), STREAM_WAIT_MS),
      [C.CANCELLED],
    );
    await check(
      "Events",
      (a) => a.events,
      (req) => drain(client().events(EventsRequest.fromPartial(req), deadline()), STREAM_WAIT_MS),
      [C.CANCELLED],
    );
    await check(
      "AttachContainer",
      (a) => a.attach,
      (msgs) => {
        const call = client().attachContainer(deadline());
        const done = drain(call, STREAM_WAIT_MS);
        for (const m of msgs) call.write(AttachContainerRequest.fromPartial(m));
        call.end();
        return done;
      },
      [C.CANCELLED],
    );
    await check(
      "ExecContainer",
      (a) => a.exec,
      (msgs) => {
        const call = client().execContainer(deadline());
        const done = drain(call, STREAM_WAIT_MS);
        for (const m of msgs) call.write(ExecContainerRequest.fromPartial(m));
        call.end();
        return done;
      },
      [C.CANCELLED],
    );
    assert.deepEqual(failures, [], failures.join("\n"));
  });

  it("ImageService RPCs answer every input with OK or a documented code", async () => {
    const opts = (): Partial<grpc.CallOptions> => ({ deadline: new Date(Date.now() + CALL_DEADLINE_MS) });
    const source = (path: string, format = ""): ImportImageRequest => ({ message: { $case: "source", value: { path, reference: "", format, sizeBytes: 0 } } });
    const chunk = (bytes: number[]): ImportImageRequest => ({ message: { $case: "chunk", value: Buffer.from(bytes) } });
    await check(
      "ImportImage",
      (a) => a.importImage,
      (msgs) =>
        new Promise<Outcome>((resolve) => {
          const call = images.importImage(new grpc.Metadata(), opts(), (err) =>
            resolve(err ? { code: err.code, details: err.details } : { code: C.OK, details: "" }),
          );
          for (const m of msgs) call.write(ImportImageRequest.fromPartial(m));
          call.end();
        }),
      [],
      // A corrupt gzip stream (once an unhandled error that ended hulld), files that are no tar, a file that cannot be read.
      [[source(""), chunk([0x1f, 0x8b, 1, 2, 3])], [source("/etc/passwd")], [source("/etc/hostname", "oci-layout")], [source("/proc/self/mem")]],
    );
    // A reference that parses names a registry host: unreachable ones answer UNAVAILABLE (or UNAUTHENTICATED); short names mean docker.io, blocked here.
    // The 1 MiB reference once came back whole in the status trailer and wedged the client's connection.
    const pullExamples = [
      { reference: "x".repeat(1024 * 1024), username: "", password: "", insecure: false },
      { reference: "localhost:1/x:y", username: "", password: "", insecure: true },
    ];
    await check(
      "PullImage",
      (a) => a.pull,
      (req) => drain(images.pullImage(PullImageRequest.fromPartial(req), opts()), CALL_DEADLINE_MS),
      [C.UNAVAILABLE, C.UNAUTHENTICATED, C.PERMISSION_DENIED],
      pullExamples,
    );
    await check(
      "ListImages",
      (a) => a.imageRef,
      (req) => unary((md, o, cb) => images.listImages(ListImagesRequest.fromPartial(req), md, o, cb)),
    );
    await check(
      "InspectImage",
      (a) => a.imageRef,
      (req) => unary((md, o, cb) => images.inspectImage(InspectImageRequest.fromPartial(req), md, o, cb)),
    );
    await check(
      "RemoveImage",
      (a) => a.removeImage,
      (req) => unary((md, o, cb) => images.removeImage(RemoveImageRequest.fromPartial(req), md, o, cb)),
    );
    assert.deepEqual(failures, [], failures.join("\n"));
  });

  it("hulld is alive and SERVING afterwards, with no container left from the inputs", async () => {
    assert.ok(s.d.running(), "hulld is still running");
    assert.equal(await healthCheck(s.d.socket), 1);
    const left = (await s.api.listContainers({})).containers.filter((c) => c.name !== TARGET);
    assert.deepEqual(
      left.map((c) => c.name),
      [],
    );
    assert.deepEqual(await readdir(canary), []);
    const slowest = [...timings]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([rpc, ms]) => `${rpc} ${(ms / 1000).toFixed(1)} s`);
    const crashes = s.d.running() ? 0 : 1;
    console.log(
      `hostile-input: ${inputs} inputs over ${rpcs.size} RPCs, ${crashes} crashes, ${failures.length} undocumented answers (slowest: ${slowest.join(", ")})`,
    );
  });

  it("a request that does not decode (int64 beyond 2^53, garbage bytes) is INVALID_ARGUMENT, not INTERNAL", async () => {
    const raw = new grpc.Client(`unix:${s.d.socket}`, grpc.credentials.createInsecure());
    const send = (path: string, bytes: Uint8Array): Promise<Outcome> =>
      new Promise((resolve) => {
        raw.makeUnaryRequest(
          path,
          (b: Uint8Array) => Buffer.from(b),
          (b: Buffer) => b,
          bytes,
          new grpc.Metadata(),
          { deadline: new Date(Date.now() + CALL_DEADLINE_MS) },
          (err) => resolve(err ? { code: err.code, details: err.details } : { code: C.OK, details: "" }),
        );
      });
    try {
      // CreateContainerRequest{config{resources{memory_limit_bytes: 2^62}}}, ContainerLogsRequest{since{seconds: 2^62}}, ...
      const resources = new BinaryWriter()
        .uint32(8)
        .int64(2n ** 62n)
        .finish();
      const cfg = new BinaryWriter()
        .uint32((18 << 3) | 2)
        .bytes(resources)
        .finish();
      const create = new BinaryWriter()
        .uint32((1 << 3) | 2)
        .bytes(cfg)
        .finish();
      const ts = new BinaryWriter()
        .uint32(8)
        .int64(2n ** 62n)
        .finish();
      // A labels map entry whose key holds a NUL byte (protobuf strings may; label keys may not).
      const list = new BinaryWriter()
        .uint32((2 << 3) | 2)
        .bytes(
          new BinaryWriter()
            .uint32((1 << 3) | 2)
            .string("k\u0000")
            .finish(),
        )
        .finish();
      const cases: Array<[string, Uint8Array]> = [
        ["/hull.v1.ContainerService/CreateContainer", create],
        [
          "/hull.v1.ContainerService/WaitContainer",
          new BinaryWriter()
            .uint32((1 << 3) | 2)
            .string("x")
            .uint32((2 << 3) | 0)
            .int64(2n ** 62n)
            .finish(),
        ],
        ["/hull.v1.ContainerService/ListContainers", list],
        ["/hull.v1.ContainerService/InspectContainer", Buffer.from([0xff, 0xff, 0xff])],
        [
          "/hull.v1.ContainerService/ContainerLogs",
          new BinaryWriter()
            .uint32((1 << 3) | 2)
            .string("x")
            .uint32((4 << 3) | 2)
            .bytes(ts)
            .finish(),
        ],
      ];
      for (const [path, bytes] of cases) {
        const o = await send(path, bytes);
        inputs++;
        assert.ok(o.code === C.INVALID_ARGUMENT || o.code === C.NOT_FOUND, `${path}: ${C[o.code]} ${o.details}`);
      }
    } finally {
      raw.close();
    }
  });
});
