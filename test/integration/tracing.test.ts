// Spans exist and nest: an in-process hulld with an in-memory exporter.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import {
  ContainerConfig,
  ContainerServiceClient,
  ListContainersRequest,
  type CreateContainerResponse,
  type WaitContainerResponse,
} from "../../src/gen/hull/v1/container.js";
import { startDaemon, type Daemon } from "../../src/daemon.js";
import { otlpConfigured } from "../../src/tracing.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

describe("tracing", () => {
  let dir: string;
  let daemon: Daemon;
  let client: ContainerServiceClient;
  let rootfs: string;

  before(async () => {
    dir = await mkdtemp("/tmp/ht-");
    rootfs = await buildBusyboxRootfs(join(dir, "rootfs"));
    daemon = await startDaemon({
      socket: join(dir, "s.sock"),
      root: join(dir, "root"),
      runRoot: join(dir, "run"),
      runtime: "runc",
      log: pino({ level: "silent" }),
    });
    client = new ContainerServiceClient(`unix:${join(dir, "s.sock")}`, credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await daemon.close();
    await provider.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("is off unless an OTLP endpoint is configured", () => {
    assert.equal(otlpConfigured({}), false);
    assert.equal(otlpConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }), true);
    assert.equal(otlpConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" }), false);
  });

  it("wraps every RPC in a span with child spans for lock, store and runtime", async () => {
    exporter.reset();
    const created = await new Promise<CreateContainerResponse>((resolve, reject) =>
      client.createContainer({ config: { ...emptyConfig(), rootfsPath: rootfs, command: ["true"] } }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    const id = created.container?.id ?? "";
    await new Promise<void>((resolve, reject) => client.startContainer({ id, recursive: false }, (err) => (err ? reject(err) : resolve())));
    const waited = await new Promise<WaitContainerResponse>((resolve, reject) =>
      client.waitContainer({ id }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    assert.equal(waited.exitCode, 0);
    await new Promise<void>((resolve, reject) => client.removeContainer({ id, force: true, timeoutSeconds: 0 }, (err) => (err ? reject(err) : resolve())));

    const spans = exporter.getFinishedSpans();
    const root = (name: string): ReadableSpan => {
      const span = spans.find((s) => s.name === `hull.v1.ContainerService/${name}`);
      assert.ok(span, `a span for ${name} (have: ${[...new Set(spans.map((s) => s.name))].join(", ")})`);
      return span;
    };
    const create = root("CreateContainer");
    assert.equal(create.attributes["rpc.method"], "CreateContainer");
    const start = root("StartContainer");
    assert.equal(start.attributes["hull.container.id"], id);
    const childrenOf = (parent: ReadableSpan): string[] => spans.filter((s) => parentOf(s) === parent.spanContext().spanId).map((s) => s.name);
    assert.ok(childrenOf(create).includes("store.createContainer"), `create children: ${childrenOf(create).join(", ")}`);
    const startChildren = childrenOf(start);
    assert.ok(startChildren.includes("lock.wait"), `start children: ${startChildren.join(", ")}`);
    assert.ok(startChildren.includes("container.sync"), `start children: ${startChildren.join(", ")}`);
    assert.ok(startChildren.includes("oci.start"), `start children: ${startChildren.join(", ")}`);
    const sync = spans.find((s) => s.name === "container.sync" && parentOf(s) === start.spanContext().spanId);
    assert.ok(sync && childrenOf(sync).some((n) => n.startsWith("store.")), "store reads nest under the sync");
    for (const span of spans.filter((s) => s.name.startsWith("oci."))) {
      assert.equal(span.attributes["hull.container.id"], id);
    }
  });

  it("names the caller on every RPC span: this process's pid, uid and gid over the unix socket", async () => {
    exporter.reset();
    await new Promise<void>((resolve, reject) => client.listContainers(ListContainersRequest.fromPartial({}), (err) => (err ? reject(err) : resolve())));
    // The span ends just after the reply (it may wait briefly for the peer lookup).
    let span: ReadableSpan | undefined;
    for (let i = 0; i < 100 && !span; i++) {
      span = exporter.getFinishedSpans().find((s) => s.name === "hull.v1.ContainerService/ListContainers");
      if (!span) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(span, "a ListContainers span");
    assert.equal(span.attributes["net.transport"], "unix");
    assert.equal(span.attributes["hull.peer.pid"], process.pid);
    assert.equal(span.attributes["hull.peer.uid"], process.getuid?.());
    assert.equal(span.attributes["hull.peer.gid"], process.getgid?.());
  });
});

function emptyConfig(): ContainerConfig {
  return ContainerConfig.fromPartial({});
}
