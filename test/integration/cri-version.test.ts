// The CRI's runtime.v1 services on hulld's own socket, through a client
// generated from proto/runtime/v1/api.proto (what crictl and the kubelet
// dial): Version answers as CRI-O and containerd do, an RPC whose capability
// is still being built answers UNIMPLEMENTED naming it (never OK), and a
// hull.v1 call on the same connection's socket keeps working.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ImageServiceClient, RuntimeServiceClient, type VersionResponse } from "../../src/gen/runtime/v1/api.js";
import { daemonSuite } from "../helpers/suite.js";
import { errorInfo } from "../helpers/api.js";
import { create } from "../helpers/fixtures.js";

function unary<Res>(call: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    call((err, res) => (err ? reject(err) : resolve(res)));
  });
}

describe("CRI runtime.v1 on hulld's socket", () => {
  const s = daemonSuite();
  const clients: grpc.Client[] = [];
  const runtime = (): RuntimeServiceClient => {
    const c = new RuntimeServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };
  after(() => clients.forEach((c) => c.close()));

  it("Version names hull and CRI v1", async () => {
    const res = await unary<VersionResponse>((cb) => runtime().version({ version: "0.1.0" }, cb));
    assert.deepEqual(res, { version: "0.1.0", runtimeName: "hull", runtimeVersion: "0.1.0", runtimeApiVersion: "v1" });
  });

  it("every RPC is served: the streaming RPCs look up their object (NOT_FOUND for an unknown one), none is UNIMPLEMENTED", async () => {
    const images = new ImageServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure());
    clients.push(images);
    const fs = await unary<{ imageFilesystems: { fsId?: { mountpoint: string } }[] }>((cb) => images.imageFsInfo({}, cb));
    assert.equal(fs.imageFilesystems[0]?.fsId?.mountpoint, `${s.d.root}/images`);
    const st = await unary<{ status?: { conditions: { type: string }[] } }>((cb) => runtime().status({ verbose: false }, cb));
    assert.deepEqual(
      st.status?.conditions.map((x) => x.type),
      ["RuntimeReady", "NetworkReady"],
    );
    const r = runtime();
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ["Exec", () => unary((cb) => r.exec({ containerId: "x", cmd: ["true"], tty: false, stdin: false, stdout: true, stderr: false }, cb)), /"x"/],
      ["Attach", () => unary((cb) => r.attach({ containerId: "x", stdin: false, tty: false, stdout: true, stderr: false }, cb)), /"x"/],
      ["PortForward", () => unary((cb) => r.portForward({ podSandboxId: "x", port: [80] }, cb)), /x/],
    ];
    for (const [name, call, message] of cases) {
      await assert.rejects(call(), (err: unknown) => {
        const e = errorInfo(err);
        assert.equal(e.code, grpc.status.NOT_FOUND, `${name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
    }
  });

  it("hull.v1 answers beside it on the same socket", async () => {
    const c = await create(s.api, s.rootfs, ["true"]);
    s.made.push(c.id);
    const res = await s.d.api.listContainers({});
    assert.deepEqual(
      res.containers.map((x) => x.id),
      [c.id],
    );
  });
});
