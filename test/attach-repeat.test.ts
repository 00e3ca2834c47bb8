// Start-and-attach loses no output: a container that prints and exits at
// once, 200 times, always gives both lines on their own streams, then its
// exit code (podman #835: attach must connect before the start).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { startTestDaemon, type TestDaemon } from "./helpers/daemon.js";
import { buildBusyboxRootfs } from "./helpers/rootfs.js";
import type { Api } from "./helpers/api.js";
import { create } from "./helpers/fixtures.js";
import { openAttach } from "./helpers/attach.js";

const REPEATS = 200;
// Containers are created and started a few at a time: the runtime's own work dominates.
const PARALLEL = 4;

describe("start-and-attach", () => {
  let d: TestDaemon;
  let rootfs: string;
  const api = (): Api => d.api;

  before(async () => {
    rootfs = await buildBusyboxRootfs();
    d = await startTestDaemon({ logLevel: "warn" });
  });

  after(async () => {
    if (d) await d.cleanup();
    if (rootfs) await rm(rootfs, { recursive: true, force: true });
  });

  it(`start-and-attach of a fast echo gets both lines on their streams, ${REPEATS} times`, async () => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < REPEATS) {
        const n = next++;
        const c = await create(api(), rootfs, ["sh", "-c", "echo first; echo second >&2"]);
        const a = openAttach(d.client, { id: c.id, stdout: true, stderr: true, start: true });
        const r = await a.finished;
        await api().removeContainer({ id: c.id, force: true, timeoutSeconds: 0 });
        assert.equal(r.error, undefined, `run ${n}: the call failed: ${r.error?.code} ${r.error?.details}`);
        assert.equal(r.stdout, "first\n", `run ${n}: stdout`);
        assert.equal(r.stderr, "second\n", `run ${n}: stderr`);
        assert.equal(r.exitCode, 0, `run ${n}: exit code`);
        assert.equal(r.order[0], "attached", `run ${n}: attached comes first`);
        assert.equal(r.order.at(-1), "exitCode", `run ${n}: the exit code comes last`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  });
});
