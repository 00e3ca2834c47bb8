// Bulk output through start-and-attach (issue 12): 200 MiB arrive byte for
// byte. Without stdin the output comes from the log from the start (conmon's
// socket is not connected), so the hull-attach-log-fallbacks trailer reads 0,
// and a client that stops reading while the container writes far more than
// hulld may queue still gets every byte.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { daemonSuite } from "../helpers/suite.js";
import { create, waitExited } from "../helpers/fixtures.js";
import { ContainerServiceClient, OutputStream, type AttachContainerResponse } from "../../src/gen/hull/v1/container.js";
import { LOG_FALLBACKS_TRAILER } from "../../src/service/attach-handler.js";
import { CLIENT_QUEUE_LIMIT } from "../../src/ops/attach-output.js";

const LINE = "0123456789".repeat(10);

/** `yes LINE | head -c bytes`: a deterministic stream whose hash is computed here, not received. */
function command(bytes: number): string[] {
  return ["sh", "-c", `yes ${LINE} | head -c ${bytes}`];
}

function expectedHash(bytes: number): string {
  const line = `${LINE}\n`;
  const block = Buffer.from(line.repeat(Math.floor((1 << 20) / line.length)));
  const h = createHash("sha256");
  let left = bytes;
  for (; left >= block.length; left -= block.length) h.update(block);
  h.update(block.subarray(0, left));
  return h.digest("hex");
}

interface Received {
  bytes: number;
  stderrBytes: number;
  hash: string;
  exitCode?: number;
  fallbacks: number;
}

/** Start-and-attach, hashing stdout as it arrives; `hold` keeps the client from reading until it resolves. */
function attachAndHash(client: ContainerServiceClient, id: string, hold?: () => Promise<void>): Promise<Received> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    const got: Omit<Received, "hash" | "fallbacks"> = { bytes: 0, stderrBytes: 0 };
    const call = client.attachContainer(new grpc.Metadata(), { deadline: Date.now() + 120_000 });
    call.on("data", (msg: AttachContainerResponse) => {
      const m = msg.message;
      if (m?.$case === "attached" && hold) {
        call.pause();
        hold().then(
          () => call.resume(),
          (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
        );
      }
      if (m?.$case === "output") {
        if (m.value.stream === OutputStream.OUTPUT_STREAM_STDOUT) {
          h.update(m.value.data);
          got.bytes += m.value.data.length;
        } else got.stderrBytes += m.value.data.length;
      }
      if (m?.$case === "exitCode") {
        got.exitCode = m.value;
        call.end();
      }
    });
    call.on("status", (status: grpc.StatusObject) => {
      if (status.code !== grpc.status.OK) return;
      const trailer = status.metadata.get(LOG_FALLBACKS_TRAILER);
      if (trailer.length !== 1) return reject(new Error(`expected one ${LOG_FALLBACKS_TRAILER} trailer, got ${JSON.stringify(trailer)}`));
      resolve({ ...got, hash: h.digest("hex"), fallbacks: Number(trailer[0]) });
    });
    call.on("error", reject);
    call.write({
      message: { $case: "open", value: { id, stdin: false, stdout: true, stderr: true, detachKeys: "", logs: false, start: true, recursive: false } },
    });
  });
}

describe("attach throughput", () => {
  const s = daemonSuite({ daemon: { logLevel: "warn" } });
  // As bench/throughput.ts: a client with a 4 MiB HTTP/2 window, roughly what grpc-go's BDP estimator reaches locally.
  const client = (): ContainerServiceClient =>
    new ContainerServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure(), { "grpc-node.flow_control_window": 4 << 20 });

  it("delivers 200 MiB of stdout byte for byte, from the log without fallback", async () => {
    const bytes = 200 * 1024 * 1024;
    const c = await create(s.api, s.rootfs, command(bytes));
    s.made.push(c.id);
    const cl = client();
    try {
      const r = await attachAndHash(cl, c.id);
      assert.equal(r.exitCode, 0);
      assert.equal(r.stderrBytes, 0);
      assert.equal(r.bytes, bytes);
      assert.equal(r.hash, expectedHash(bytes));
      assert.equal(r.fallbacks, 0);
    } finally {
      cl.close();
    }
  });

  it("serves a stdin-less client that stops reading from the log: every byte, no fallback", async () => {
    // Far more than hulld queues plus what the client's window holds: on the socket path it would be moved;
    // without stdin the log is the source from the start, so there is nothing to fall back from.
    const bytes = 8 * CLIENT_QUEUE_LIMIT + (8 << 20);
    const c = await create(s.api, s.rootfs, command(bytes));
    s.made.push(c.id);
    const cl = client();
    try {
      const r = await attachAndHash(cl, c.id, async () => {
        await waitExited(s.api, c.id);
      });
      assert.equal(r.exitCode, 0);
      assert.equal(r.bytes, bytes);
      assert.equal(r.hash, expectedHash(bytes));
      assert.equal(r.fallbacks, 0);
    } finally {
      cl.close();
    }
  });
});
