// Issue 5, hygiene: N whole lifecycles (create → start → wait → rm, with
// exec, logs, follow, pause/unpause, mount/unmount and image containers
// mixed in), 4 at a time, must leave hulld exactly as they found it: its open
// fds, the mounts, conmons, runtime containers and files under its dirs, its
// store's keys (only the bounded event history may grow), and a flat RSS.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { ContainerLogsRequest, type ContainerServiceClient } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { importRootfsImage } from "../helpers/images.js";
import { S, must, uniqueName, until } from "../helpers/fixtures.js";
import { stressCount, stressScale } from "../helpers/stress.js";
import { MiB, fdDiff, hulldPid, listDiff, rssBytes, snapshot, storeKeyCounts, total, type Snapshot } from "../helpers/hygiene.js";

const LIFECYCLES = stressCount(200, 1000);
const CONCURRENCY = 4;
const WARMUP = 7;
/** The store's default event history cap (src/store/store.ts). */
const EVENT_CAP = 10_000;
/** A leak check, not a timing test: RSS at the end may exceed RSS after the first 10% by this much. */
const RSS_SLACK = 30 * MiB;
/**
 * LevelDB keeps a table cache of open .ldb files and rotates its log and
 * manifest files: how many fds point into state.db/ changes with compactions.
 */
const STORE_FD_SLACK = 8;
const TRAP = ["sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait"];
const IMAGE = "hygiene-busybox";

/** The log's lines (without their newlines). */
function readLogs(client: ContainerServiceClient, id: string, follow: boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const call = client.containerLogs(ContainerLogsRequest.fromPartial({ id, follow }), { deadline: Date.now() + 60_000 });
    const lines: string[] = [];
    call.on("data", (res: { lines: { data: Uint8Array }[] }) => {
      for (const l of res.lines) lines.push(Buffer.from(l.data).toString());
    });
    call.on("end", () => resolve(lines));
    call.on("error", (err: grpc.ServiceError) => reject(err));
  });
}

/** One whole lifecycle of kind `i % 7`; the container is gone when it resolves. */
async function lifecycle(api: Api, client: ContainerServiceClient, rootfs: string, i: number): Promise<void> {
  const kind = i % 7;
  const base = { name: uniqueName("hy"), ...(kind === 5 ? { image: IMAGE } : { rootfsPath: rootfs }) };
  const command = kind === 1 || kind === 3 ? TRAP : kind === 6 ? ["sh", "-c", "echo a; sleep 0.3; echo b"] : ["sh", "-c", `echo lifecycle ${i}; exit ${i % 5}`];
  const c = must((await api.createContainer({ config: { ...base, command } })).container, "container");
  const id = c.id;
  try {
    if (kind === 4) {
      await api.mountContainer({ id });
      await api.unmountContainer({ id });
    }
    await api.startContainer({ id });
    let expected = i % 5;
    if (kind === 1) {
      const r = await api.execSync({ id, command: ["echo", "exec"], timeoutSeconds: 10 });
      assert.equal(Buffer.from(r.stdout).toString(), "exec\n");
    }
    if (kind === 3) {
      await api.pauseContainer({ id });
      await api.unpauseContainer({ id });
    }
    if (kind === 6) {
      assert.deepEqual(await readLogs(client, id, true), ["a", "b"], "logs -f");
      expected = 0;
    }
    if (kind === 1 || kind === 3) {
      await api.stopContainer({ id, timeoutSeconds: 10 });
      expected = 3;
    }
    const done = await api.waitContainer({ id, condition: S.CONTAINER_STATE_EXITED });
    const after = must((await api.inspectContainer({ id })).container, "inspect");
    assert.equal(after.exitCode, expected, `lifecycle ${i} (kind ${kind}): exit code`);
    assert.equal(done.state, S.CONTAINER_STATE_EXITED);
    if (kind === 2) assert.deepEqual(await readLogs(client, id, false), [`lifecycle ${i}`]);
  } finally {
    await api.removeContainer({ id, force: true, timeoutSeconds: 0 });
  }
}

async function runAll(from: number, count: number, run: (i: number) => Promise<void>, onProgress?: (done: number) => Promise<void>): Promise<void> {
  let next = from;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < from + count) {
      const i = next++;
      await run(i);
      done++;
      await onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

function describeSnapshot(s: Snapshot): string {
  return `fds ${total(s.fds)}, inotify watches ${s.inotifyWatches}, mounts ${s.mounts.length}, conmons ${s.conmons.length}, runtime containers ${s.runtime.length}, files ${s.rootFiles.length} under root + ${s.runRootFiles.length} under run-root`;
}

/** What differs between two snapshots, beyond the explained LevelDB fd slack. */
function differences(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  const storeFds = (m: Map<string, number>): number => [...m].filter(([k]) => k.includes("/state.db/")).reduce((n, [, v]) => n + v, 0);
  const other = (m: Map<string, number>): Map<string, number> => new Map([...m].filter(([k]) => !k.includes("/state.db/")));
  out.push(...fdDiff(other(a.fds), other(b.fds)).map((d) => `fd ${d}`));
  if (Math.abs(storeFds(a.fds) - storeFds(b.fds)) > STORE_FD_SLACK) out.push(`fds into state.db: ${storeFds(a.fds)} → ${storeFds(b.fds)}`);
  if (a.inotifyWatches !== b.inotifyWatches) out.push(`inotify watches: ${a.inotifyWatches} → ${b.inotifyWatches}`);
  out.push(...listDiff(a.mounts, b.mounts).map((d) => `mount ${d}`));
  out.push(...listDiff(a.conmons, b.conmons).map((d) => `conmon ${d}`));
  out.push(...listDiff(a.runtime, b.runtime).map((d) => `runtime container ${d}`));
  out.push(...listDiff(a.rootFiles, b.rootFiles).map((d) => `root file ${d}`));
  out.push(...listDiff(a.runRootFiles, b.runRootFiles).map((d) => `run-root file ${d}`));
  return out;
}

describe(`hygiene stress (${stressScale()}: ${LIFECYCLES} lifecycles, ${CONCURRENCY} at a time)`, () => {
  let work: string | undefined;
  const s = daemonSuite({ daemon: { logLevel: "info" }, extraDirs: () => (work ? [work] : []) });

  it("leaves fds, mounts, conmons, runtime containers, files and store keys as it found them, with flat memory", { timeout: 900_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), "hull-hygiene-"));
    await importRootfsImage(s.d.socket, s.rootfs, work, IMAGE);
    const one = (i: number): Promise<void> => lifecycle(s.api, s.d.client, s.rootfs, i);
    // Warm up (lazy caches, first-use fds), then take the store's keys with hulld stopped.
    await runAll(0, WARMUP, one);
    await s.d.stop();
    const keysBefore = await storeKeyCounts(s.d.root);
    await s.d.restart();
    await runAll(0, WARMUP, one);
    const pid = await hulldPid(s.d.socket);
    const before = await snapshot(pid, s.d.root, s.d.runRoot);

    const samples: { done: number; rss: number }[] = [{ done: 0, rss: await rssBytes(pid) }];
    const every = Math.max(1, Math.floor(LIFECYCLES / 10));
    await runAll(WARMUP, LIFECYCLES, one, async (done) => {
      if (done % every === 0) samples.push({ done, rss: await rssBytes(pid) });
    });

    // Exit handling of the last containers may still be finishing: let it settle, then compare.
    let after = before;
    let diff: string[] = [];
    await until(
      "the resources to return to their starting figures",
      async () => {
        after = await snapshot(pid, s.d.root, s.d.runRoot);
        diff = differences(before, after);
        return diff.length === 0 ? true : undefined;
      },
      15_000,
      500,
    ).catch(() => undefined);
    const list = await s.api.listContainers({});

    await s.d.stop();
    const keysAfter = await storeKeyCounts(s.d.root);
    await s.d.restart();

    const firstTenth = samples.find((x) => x.done >= every) ?? samples[0];
    const last = samples.at(-1) ?? samples[0];
    assert.ok(firstTenth && last);
    const keyLine = (k: Record<string, number>): string =>
      Object.entries(k)
        .sort()
        .map(([p, n]) => `${p}=${n}`)
        .join(" ");
    console.log(
      [
        `hygiene stress: ${LIFECYCLES} lifecycles (+${2 * WARMUP} warm-up), ${CONCURRENCY} at a time`,
        `before: ${describeSnapshot(before)}`,
        `after:  ${describeSnapshot(after)}`,
        `fds by kind before: ${[...before.fds].map(([k, v]) => `${k}=${v}`).join(", ")}`,
        `store keys before: ${keyLine(keysBefore)}`,
        `store keys after:  ${keyLine(keysAfter)}`,
        `RSS MiB by lifecycles done: ${samples.map((x) => `${x.done}:${(x.rss / MiB).toFixed(1)}`).join(" ")}`,
        `differences: ${diff.length === 0 ? "none" : ""}`,
        ...diff.slice(0, 40).map((d) => `  ${d}`),
      ].join("\n"),
    );
    assert.deepEqual(diff, [], "resources after the run differ from before it");
    assert.deepEqual(
      list.containers.map((c) => c.name),
      [],
      "no container is left",
    );
    for (const prefix of new Set([...Object.keys(keysBefore), ...Object.keys(keysAfter)])) {
      if (prefix === "evt") continue;
      assert.equal(keysAfter[prefix] ?? 0, keysBefore[prefix] ?? 0, `store keys under ${prefix}/`);
    }
    assert.ok((keysAfter.evt ?? 0) <= EVENT_CAP, `the event history (${keysAfter.evt}) stays within its cap of ${EVENT_CAP}`);
    assert.ok(
      last.rss <= firstTenth.rss + RSS_SLACK,
      `RSS grew from ${(firstTenth.rss / MiB).toFixed(1)} MiB (after ${firstTenth.done}) to ${(last.rss / MiB).toFixed(1)} MiB (after ${last.done})`,
    );
  });
});
