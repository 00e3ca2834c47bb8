// Restart stress: running containers outlive hulld restarts (SIGTERM and
// SIGKILL in turn). After each restart every one still runs with the same
// pid, attach reads its new output and logs serve it; containers that exit
// while hulld is down report their codes, and an on-failure container that
// failed meanwhile is restarted. Counts: stressCount(10, 20) containers,
// stressCount(3, 5) restarts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ContainerLogsRequest, type ContainerLogsResponse, type ContainerServiceClient } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { openAttach } from "../helpers/attach.js";
import { pidAlive } from "../helpers/daemon.js";
import { stressCount } from "../helpers/stress.js";
import { S, assertState, createStarted, inspect, removeAll, until, waitExited } from "../helpers/fixtures.js";

const TICKER = ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"];

/** The whole log of a container (no follow) as text. */
function logText(client: ContainerServiceClient, id: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = client.containerLogs(ContainerLogsRequest.fromPartial({ id }), new grpc.Metadata(), { deadline: Date.now() + 30_000 });
    let text = "";
    call.on("data", (res: ContainerLogsResponse) => {
      for (const l of res.lines) text += `${l.data.toString()}\n`;
    });
    call.on("error", reject);
    call.on("end", () => resolve(text));
  });
}

const ticks = (text: string): number[] => [...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));

describe("stress: hulld restarts under running containers", () => {
  const s = daemonSuite();
  const api = (): Api => s.d.api;

  it("keeps containers running, attachable and logged across restarts; records exits and restarts by policy", { timeout: 15 * 60_000 }, async () => {
    const count = stressCount(10, 20);
    const restarts = stressCount(3, 5);
    const tickers = [];
    for (let i = 0; i < count; i++) {
      const c = await createStarted(api(), s.rootfs, TICKER);
      s.made.push(c.id);
      tickers.push(c);
    }
    const lastTick = new Map<string, number>();
    let attachChecks = 0;
    let logChecks = 0;
    let exitsRecorded = 0;
    let policyRestarts = 0;

    for (let round = 1; round <= restarts; round++) {
      const how = round % 2 === 1 ? "SIGTERM" : "SIGKILL";
      const code = 10 + round;
      // Both exit about 1 s from now, while hulld is down.
      const brief = await createStarted(api(), s.rootfs, ["sh", "-c", `sleep 1; exit ${code}`]);
      s.made.push(brief.id);
      const failing = await createStarted(api(), s.rootfs, ["sh", "-c", "sleep 1; exit 4"], { restartPolicy: { name: "on-failure", maxRetries: 1 } });
      s.made.push(failing.id);

      if (how === "SIGTERM") assert.equal(await s.d.stop(), 0, "hulld exits 0 on SIGTERM");
      else await s.d.kill();
      await until("the brief containers to exit while hulld is down", async () => (pidAlive(brief.pid) || pidAlive(failing.pid) ? undefined : true), 20_000);
      await s.d.restart();

      await Promise.all(
        tickers.map(async (t) => {
          const info = await inspect(api(), t.id);
          assertState(info, S.CONTAINER_STATE_RUNNING, `round ${round} (${how}): ticker ${t.name}`);
          assert.equal(info.pid, t.pid, `round ${round}: ticker ${t.name} keeps its pid`);
          assert.ok(pidAlive(t.pid));
          // Attach reads output the container wrote after the restart.
          const before = lastTick.get(t.id) ?? -1;
          const a = openAttach(s.d.client, { id: t.id, stdout: true, stderr: true });
          const got = await a.until(`a tick after ${before} from ${t.name}`, (r) => ticks(r.stdout).some((n) => n > before));
          const seen = Math.max(...ticks(got.stdout));
          a.call.cancel();
          await a.finished;
          lastTick.set(t.id, seen);
          attachChecks++;
          // The log has it too (conmon writes the log file and the attach socket from one read).
          await until(`tick ${seen} in the log of ${t.name}`, async () => (ticks(await logText(s.d.client, t.id)).includes(seen) ? true : undefined), 10_000);
          logChecks++;
        }),
      );

      const w = await api().waitContainer({ id: brief.id }, { deadlineMs: 30_000 });
      assert.equal(w.exitCode, code, `round ${round}: the exit while hulld was down is recorded`);
      await waitExited(api(), brief.id);
      const ended = await inspect(api(), brief.id);
      assertState(ended, S.CONTAINER_STATE_EXITED);
      assert.equal(ended.exitCode, code);
      exitsRecorded++;

      // on-failure:1 restarts it once after hulld's start found the failure, then it fails again for good.
      const restarted = await until(`round ${round}: the on-failure container to be restarted`, async () => {
        const c = await inspect(api(), failing.id);
        return c.restartCount >= 1 ? c : undefined;
      });
      assert.equal(restarted.restartCount, 1);
      policyRestarts++;
      await until(`round ${round}: the restarted container to fail again`, async () => {
        const c = await inspect(api(), failing.id);
        return c.state === S.CONTAINER_STATE_EXITED && c.restartCount === 1 ? c : undefined;
      });
      const final = await inspect(api(), failing.id);
      assert.equal(final.exitCode, 4);
      await removeAll(api(), [brief.id, failing.id]);
    }

    // How long each start's reconciliation took, as hulld logged it (a figure, not asserted).
    const recoveryMs = s.d
      .output()
      .split("\n")
      .filter((l) => l.includes("reconciled the store with the runtime"))
      .map((l) => JSON.parse(l) as { durationMs: number; containers: number })
      .map((r) => `${r.containers} containers in ${r.durationMs} ms`);
    console.log(`restart stress: reconciliation at each start: ${recoveryMs.join(", ")}`);
    console.log(
      `restart stress: restarts survived=${restarts} (SIGTERM and SIGKILL in turn), containers kept running=${tickers.length}, attach checks=${attachChecks}, ` +
        `log checks=${logChecks}, exits recorded while down=${exitsRecorded}, restarts by policy=${policyRestarts}`,
    );
    await removeAll(
      api(),
      tickers.map((t) => t.id),
    );
  });
});
