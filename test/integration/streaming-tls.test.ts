// The streaming server over mutual TLS (--streaming-tls): a client without a
// certificate the CA signed never gets through the handshake; one with it
// reaches the server (an unknown token is its 404). And the start-up checks:
// an address off loopback needs --streaming-tls.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:https";
import { pino } from "pino";
import { startDaemon, type Daemon } from "../../src/daemon.js";
import { streamingConfigFrom } from "../../src/service/streaming/config.js";
import { makePki } from "../helpers/pki.js";
import { runHulld, hulldArgs } from "../helpers/daemon.js";

function get(address: string, pki: string, client?: string): Promise<number> {
  return Promise.all([
    readFile(join(pki, "ca.crt")),
    client ? readFile(join(pki, `${client}.crt`)) : undefined,
    client ? readFile(join(pki, `${client}.key`)) : undefined,
  ]).then(
    ([ca, cert, key]) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`https://${address}/exec/AAAAAAAAAAAAAAAAAAAAAA`, { ca, cert, key, headers: { Connection: "Upgrade", Upgrade: "SPDY/3.1" } });
        req.on("upgrade", () => reject(new Error("upgraded with an unknown token")));
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      }),
  );
}

describe("the streaming server over mutual TLS", () => {
  let base = "";
  let pki = "";
  let d: Daemon | undefined;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), "hull-stream-tls-"));
    pki = join(base, "pki");
    await makePki(pki);
    d = await startDaemon({
      socket: join(base, "hull.sock"),
      root: join(base, "root"),
      runRoot: join(base, "run"),
      runtime: "runc",
      log: pino({ level: "silent" }),
      streaming: streamingConfigFrom({
        streamingAddress: "127.0.0.1:0",
        streamingTls: true,
        tlsCert: join(pki, "server.crt"),
        tlsKey: join(pki, "server.key"),
        tlsClientCa: join(pki, "ca.crt"),
      }),
    });
  });

  after(async () => {
    await d?.close();
    await rm(base, { recursive: true, force: true });
  });

  it("serves a client whose certificate the CA signed, and no other", async () => {
    const address = d?.streamingAddress ?? "";
    assert.equal(await get(address, pki, "client"), 404);
    await assert.rejects(get(address, pki), "no client certificate");
    await assert.rejects(get(address, pki, "rogue-client"), "a rogue CA's certificate");
  });

  it("hulld refuses a streaming address off loopback without --streaming-tls, naming the flag", async () => {
    const dir = join(base, "refuse");
    const r = await runHulld([...hulldArgs(join(dir, "s.sock"), join(dir, "r"), join(dir, "x")), "--streaming-address", "0.0.0.0:0"]);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /--streaming-address 0\.0\.0\.0:0 is reachable from other hosts: add --streaming-tls/);
  });
});
