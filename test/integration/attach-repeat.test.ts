// Start-and-attach loses no output: a container that prints and exits at
// once, 200 times, always gives both lines on their own streams, then its
// exit code (podman #835: attach must connect before the start).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { create } from "../helpers/fixtures.js";
import { openAttach } from "../helpers/attach.js";

const REPEATS = 200;
// Containers are created and started a few at a time: the runtime's own work dominates.
const PARALLEL = 4;

describe("start-and-attach", () => {
  const s = daemonSuite({ daemon: { logLevel: "warn" } });
  const api = (): Api => s.d.api;

  it(`start-and-attach of a fast echo gets both lines on their streams, ${REPEATS} times`, async () => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < REPEATS) {
        const n = next++;
        const c = await create(api(), s.rootfs, ["sh", "-c", "echo first; echo second >&2"]);
        const a = openAttach(s.d.client, { id: c.id, stdout: true, stderr: true, start: true });
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
