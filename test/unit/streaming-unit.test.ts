// The streaming server's pure parts: tokens, protocol negotiation, the
// error stream's Status, the resize decoder, its flags, port-forward pairing
// and the relay's error text, and the RPCs' request checks.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RequestCache } from "../../src/service/streaming/tokens.js";
import {
  ResizeDecoder,
  V1,
  V2,
  V4,
  V5,
  errorStreamMessage,
  headerValues,
  negotiateProtocol,
  SPDY_COMMAND_PROTOCOLS,
} from "../../src/service/streaming/remotecommand.js";
import { parseDuration, streamingConfigFrom } from "../../src/service/streaming/config.js";
import { parsePort, requestIdOf } from "../../src/service/streaming/portforward.js";
import { dialFailure } from "../../src/network/port-dial.js";
import { validateCriAttach, validateCriExec, validateCriPortForward } from "../../src/validation/cri/streaming-requests.js";
import { AttachRequest, ExecRequest, PortForwardRequest } from "../../src/gen/runtime/v1/api.js";
import { HullError } from "../../src/errors.js";

const exec = { kind: "exec" as const, containerId: "c", command: ["true"], stdin: false, stdout: true, stderr: true, tty: false };

describe("streaming tokens", () => {
  it("are single use, expire after their ttl, and are bounded in number", () => {
    let now = 0;
    const cache = new RequestCache(60_000, 3, () => now);
    const t = cache.insert(exec);
    assert.match(t, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(cache.consume(t), exec);
    assert.equal(cache.consume(t), undefined, "used");
    const late = cache.insert(exec);
    now = 60_000;
    assert.equal(cache.consume(late), undefined, "expired");
    cache.insert(exec);
    cache.insert(exec);
    cache.insert(exec);
    assert.throws(
      () => cache.insert(exec),
      (e: unknown) => e instanceof HullError && e.reason === "RESOURCE_EXHAUSTED",
    );
    now = 120_001;
    assert.equal(cache.size, 0, "expired ones make room");
    assert.equal(cache.consume("../../etc"), undefined);
  });
});

describe("remotecommand", () => {
  it("negotiates the client's first supported protocol, V1 for none, nothing for unknown ones", () => {
    assert.equal(negotiateProtocol(["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"], SPDY_COMMAND_PROTOCOLS), V4);
    assert.equal(negotiateProtocol([], SPDY_COMMAND_PROTOCOLS), V1);
    assert.equal(negotiateProtocol(["v9.channel.k8s.io"], SPDY_COMMAND_PROTOCOLS), undefined);
    assert.deepEqual(headerValues(["v4.channel.k8s.io, v3.channel.k8s.io", "v2.channel.k8s.io"]), [V4, "v3.channel.k8s.io", V2]);
  });

  it("reports exits as client-go decodes them", () => {
    assert.deepEqual(JSON.parse(String(errorStreamMessage(V4, { exitCode: 0 }))), { metadata: {}, status: "Success" });
    const failed = JSON.parse(String(errorStreamMessage(V5, { exitCode: 7, command: ["sh", "-c", "exit 7"] }))) as Record<string, unknown>;
    assert.equal(failed.reason, "NonZeroExitCode");
    assert.deepEqual(failed.details, { causes: [{ reason: "ExitCode", message: "7" }] });
    assert.equal(failed.message, "command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7");
    assert.equal(errorStreamMessage(V2, { ok: true }), undefined, "success before v4 is silence");
    assert.match(String(errorStreamMessage(V2, { exitCode: 2 })), /exit code 2$/);
    const internal = JSON.parse(String(errorStreamMessage(V4, { exitCode: -1 }))) as Record<string, unknown>;
    assert.equal(internal.reason, "InternalError", "a code client-go cannot parse as uint8 is not an exit code");
    assert.equal(String(errorStreamMessage(V1, { error: "boom" })), "boom");
  });

  it("decodes resize messages however they are split, skipping unknown sizes", () => {
    const messages = ['{"Width":80,"Height":24}\n', '{"Width":0,"Height":0}\n', '{"Width":132,"Height":43}'];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 10 }), (cuts) => {
        const text = Buffer.from(messages.join(""));
        const d = new ResizeDecoder();
        const got = [];
        let at = 0;
        for (const c of [...cuts, text.length]) {
          got.push(...d.push(text.subarray(at, Math.min(text.length, at + c))));
          at = Math.min(text.length, at + c);
        }
        got.push(...d.push(text.subarray(at)));
        assert.deepEqual(got, [
          { width: 80, height: 24 },
          { width: 132, height: 43 },
        ]);
      }),
    );
    assert.throws(() => new ResizeDecoder().push(Buffer.from("garbage")), /resize/);
    assert.throws(() => new ResizeDecoder().push(Buffer.from('{"Width":"x"}')), /resize/);
    assert.throws(() => new ResizeDecoder().push(Buffer.from('{"Width":70000,"Height":1}')), /resize/);
    assert.throws(() => new ResizeDecoder().push(Buffer.from(`{"Width":1${" ".repeat(5000)}`)), /longer than/);
  });
});

describe("streaming flags", () => {
  it("parses durations as the kubelet's flags write them", () => {
    assert.equal(parseDuration("f", "4h"), 4 * 3600_000);
    assert.equal(parseDuration("f", "1h30m"), 5400_000);
    assert.equal(parseDuration("f", "90s"), 90_000);
    assert.equal(parseDuration("f", "250ms"), 250);
    assert.equal(parseDuration("f", "30"), 30_000);
    assert.throws(() => parseDuration("f", "4 hours"), /expected a duration/);
    assert.throws(() => parseDuration("f", "4hx"), /expected a duration/);
  });

  it("keeps plain HTTP on loopback and asks mutual TLS elsewhere", () => {
    assert.deepEqual(streamingConfigFrom({}), { host: "127.0.0.1", port: 0, idleTimeoutMs: 4 * 3600_000 });
    assert.equal(streamingConfigFrom({ streamingAddress: "[::1]:10010", streamingIdleTimeout: "5m" }).idleTimeoutMs, 300_000);
    assert.throws(() => streamingConfigFrom({ streamingAddress: "0.0.0.0:10010" }), /reachable from other hosts/);
    assert.throws(() => streamingConfigFrom({ streamingAddress: "0.0.0.0:10010", streamingTls: true, tlsCert: "c" }), /missing --tls-key, --tls-client-ca/);
    const tls = streamingConfigFrom({ streamingAddress: "0.0.0.0:10010", streamingTls: true, tlsCert: "c", tlsKey: "k", tlsClientCa: "ca" });
    assert.deepEqual(tls.tls, { certFile: "c", keyFile: "k", clientCaFile: "ca" });
    assert.throws(() => streamingConfigFrom({ streamingAddress: "nope" }), /expected HOST:PORT/);
    assert.throws(() => streamingConfigFrom({ streamingIdleTimeout: "10ms" }), /between 1s and 168h/);
  });
});

describe("port forward", () => {
  it("pairs streams by requestID, or as old clients number them", () => {
    assert.equal(requestIdOf({ streamtype: "data", requestid: "4" }, 9), "4");
    assert.equal(requestIdOf({ streamtype: "error" }, 1), "1");
    assert.equal(requestIdOf({ streamtype: "data" }, 3), "1");
    assert.equal(parsePort("80"), 80);
    for (const bad of [undefined, "", "0", "65536", "8o", "-1", "123456"]) assert.equal(parsePort(bad), undefined, String(bad));
  });

  it("says why the relay failed in the kubelet's words", () => {
    assert.equal(
      dialFailure("2026/12/07 11:57:12 socat[13374] E connect(5, AF=2 127.0.0.1:81, 16): Connection refused\n", 1, null),
      "dial tcp4 127.0.0.1:81: connection refused",
    );
    assert.match(dialFailure("nsenter: failed to execute socat: No such file or directory\n", 127, null), /install socat/);
    assert.equal(dialFailure("", null, "SIGKILL"), "the relay was killed (SIGKILL)");
    assert.equal(dialFailure("nsenter: cannot open /x: No such file or directory", 1, null), "nsenter: cannot open /x: No such file or directory");
  });
});

describe("streaming RPC checks", () => {
  const refusedOn = (field: string) => (e: unknown) => e instanceof HullError && e.reason === "INVALID_ARGUMENT" && e.metadata.field === field;
  it("refuse a tty with stderr, no streams, no command, bad ports", () => {
    const ok = ExecRequest.fromPartial({ containerId: "c", cmd: ["true"], stdout: true });
    validateCriExec(ok);
    assert.throws(() => validateCriExec({ ...ok, tty: true, stderr: true }), refusedOn("stderr"));
    assert.throws(() => validateCriExec({ ...ok, stdout: false }), refusedOn("stdin"));
    assert.throws(() => validateCriExec({ ...ok, cmd: [] }), refusedOn("cmd"));
    assert.throws(() => validateCriExec({ ...ok, containerId: "" }), refusedOn("container_id"));
    validateCriAttach(AttachRequest.fromPartial({ containerId: "c", stdin: true }));
    assert.throws(() => validateCriAttach(AttachRequest.fromPartial({ containerId: "c" })), refusedOn("stdin"));
    validateCriPortForward(PortForwardRequest.fromPartial({ podSandboxId: "p", port: [80, 443] }));
    assert.throws(() => validateCriPortForward(PortForwardRequest.fromPartial({ podSandboxId: "p", port: [0] })), refusedOn("port[0]"));
    assert.throws(
      () => validateCriPortForward(PortForwardRequest.fromPartial({ podSandboxId: "p", port: Array.from({ length: 200 }, () => 80) })),
      refusedOn("port"),
    );
  });
});
