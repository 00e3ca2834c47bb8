// Issue 5, concurrency: 32 clients on their own gRPC channels run random
// operations on the same 10 containers for a bounded time. Every call must
// answer within its deadline (a DEADLINE_EXCEEDED is a deadlock), with OK or
// a documented refusal; every state seen must be a table state and every
// transition in the Events stream one the table allows; no exit may be lost;
// and at the end hulld's states must agree with `runc state`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ContainerServiceClient, ContainerLogsRequest, type Container } from "../../src/gen/hull/v1/container.js";
import { ALL_STATES } from "../../src/statemachine/states.js";
import { checkTransitions } from "./transitions.js";
import { daemonSuite } from "../helpers/suite.js";
import { errorInfo, makeApi, type Api } from "../helpers/api.js";
import { RUNTIME_ROOT_SUBDIR } from "../helpers/daemon.js";
import { collectEvents, type EventCollector } from "../helpers/event-stream.js";
import { IGNORE_TERM, S, SLEEP, must, stateLabel, uniqueName, until } from "../helpers/fixtures.js";
import { stressCount, stressScale } from "../helpers/stress.js";

const execFileP = promisify(execFile);

const CLIENTS = 32;
const CONTAINERS = 10;
const RUN_MS = stressCount(30_000, 120_000);
/** Any call slower than this is taken for a deadlock. */
const CALL_DEADLINE_MS = 30_000;
/** Wait calls get their own short deadline: a condition may never come. */
const WAIT_DEADLINE_MS = 3_000;

/** What a container runs, chosen at random by whoever creates it. */
const COMMANDS: readonly (readonly string[])[] = [
  ["sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait"], // exits 3 on SIGTERM
  ["sh", "-c", "sleep 2; exit 7"], // exits by itself
  SLEEP, // PID 1 ignores SIGTERM: every stop escalates to SIGKILL
  IGNORE_TERM,
];

/** Refusals the API documents (status code → reasons). */
const DOCUMENTED: ReadonlyMap<number, readonly string[]> = new Map([
  [grpc.status.FAILED_PRECONDITION, ["CONTAINER_STATE_INVALID", "CONTAINER_ALREADY_STOPPED", "EXEC_SESSIONS_ACTIVE"]],
  [grpc.status.NOT_FOUND, ["CONTAINER_NOT_FOUND"]],
  [grpc.status.ALREADY_EXISTS, ["NAME_IN_USE"]],
]);

type Outcomes = Map<string, number>;

function count(outcomes: Outcomes, key: string): void {
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
}

interface RunState {
  names: string[];
  made: string[];
  outcomes: Outcomes;
  failures: string[];
  statesSeen: Set<number>;
  stop: boolean;
}

function seeState(run: RunState, c: Container | undefined, where: string): void {
  if (!c) return;
  run.statesSeen.add(c.state);
  if (!ALL_STATES.includes(c.state)) run.failures.push(`${where}: ${c.name} in state ${stateLabel(c.state)}, not a table state`);
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
const rand = (n: number): number => Math.floor(Math.random() * n);

/** Reads a ContainerLogs stream to its end. */
function readLogs(client: ContainerServiceClient, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = client.containerLogs(ContainerLogsRequest.fromPartial({ id, tail: 5 }), { deadline: Date.now() + CALL_DEADLINE_MS });
    let lines = 0;
    call.on("data", (res: { lines: unknown[] }) => (lines += res.lines.length));
    call.on("end", () => resolve(lines));
    call.on("error", reject);
  });
}

type Op = (api: Api, client: ContainerServiceClient, name: string) => Promise<Container | undefined>;

const OPS: ReadonlyArray<[string, number, Op]> = [
  ["init", 1, async (api, _c, id) => (await api.initContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["start", 3, async (api, _c, id) => (await api.startContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["stop", 2, async (api, _c, id) => (await api.stopContainer({ id, timeoutSeconds: rand(3) }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["kill", 1, async (api, _c, id) => (await api.killContainer({ id, signal: pick(["SIGKILL", "SIGTERM"]) }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["pause", 1, async (api, _c, id) => (await api.pauseContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["unpause", 1, async (api, _c, id) => (await api.unpauseContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["restart", 1, async (api, _c, id) => (await api.restartContainer({ id, timeoutSeconds: rand(2) }, { deadlineMs: CALL_DEADLINE_MS })).container],
  [
    "wait",
    1,
    async (api, _c, id) => {
      const condition = pick([S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED, S.CONTAINER_STATE_CREATED]);
      const res = await api.waitContainer({ id, condition }, { deadlineMs: WAIT_DEADLINE_MS });
      assert.ok(ALL_STATES.includes(res.state), `wait returned state ${stateLabel(res.state)}`);
      return undefined;
    },
  ],
  ["inspect", 2, async (api, _c, id) => (await api.inspectContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["exec", 2, async (api, _c, id) => (await api.execSync({ id, command: ["echo", "hi"], timeoutSeconds: 10 }, { deadlineMs: CALL_DEADLINE_MS }), undefined)],
  ["mount", 1, async (api, _c, id) => (await api.mountContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["unmount", 1, async (api, _c, id) => (await api.unmountContainer({ id, force: Math.random() < 0.3 }, { deadlineMs: CALL_DEADLINE_MS })).container],
  ["cleanup", 1, async (api, _c, id) => (await api.cleanupContainer({ id }, { deadlineMs: CALL_DEADLINE_MS })).container],
  [
    "remove",
    1,
    async (api, _c, id) => (
      await api.removeContainer({ id, force: Math.random() < 0.7, timeoutSeconds: rand(2) }, { deadlineMs: CALL_DEADLINE_MS }),
      undefined
    ),
  ],
  ["logs", 1, async (_a, client, id) => (await readLogs(client, id), undefined)],
];
const WEIGHTED = OPS.flatMap((op) => Array<(typeof OPS)[number]>(op[1]).fill(op));

async function createNamed(api: Api, run: RunState, rootfs: string, name: string): Promise<void> {
  try {
    const c = must(
      (await api.createContainer({ config: { name, rootfsPath: rootfs, command: [...pick(COMMANDS)] } }, { deadlineMs: CALL_DEADLINE_MS })).container,
      "container",
    );
    run.made.push(c.id);
    count(run.outcomes, "create:OK");
    seeState(run, c, "create");
  } catch (err) {
    classify(run, "create", name, err);
  }
}

function classify(run: RunState, op: string, name: string, err: unknown): string {
  if (err instanceof assert.AssertionError) {
    run.failures.push(`${op} ${name}: ${err.message}`);
    return "ASSERT";
  }
  const e = errorInfo(err);
  if (op === "wait" && e.code === grpc.status.DEADLINE_EXCEEDED) {
    count(run.outcomes, "wait:condition not reached in time");
    return "DEADLINE_EXCEEDED";
  }
  const reasons = DOCUMENTED.get(e.code);
  const label = `${grpc.status[e.code]}${e.reason ? ` ${e.reason}` : ""}`;
  count(run.outcomes, `${op}:${label}`);
  if (!reasons?.includes(e.reason)) run.failures.push(`${op} ${name}: ${label}: ${e.message}`);
  return e.reason;
}

async function client(run: RunState, socket: string, rootfs: string): Promise<void> {
  const c = new ContainerServiceClient(`unix:${socket}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const api = makeApi(c);
  try {
    while (!run.stop) {
      const name = pick(run.names);
      const [op, , fn] = pick(WEIGHTED);
      try {
        seeState(run, await fn(api, c, name), op);
        count(run.outcomes, `${op}:OK`);
      } catch (err) {
        // A removed container is recreated by whoever finds it missing.
        if (classify(run, op, name, err) === "CONTAINER_NOT_FOUND") await createNamed(api, run, rootfs, name);
      }
      if (rand(4) === 0) {
        const listed = await api.listContainers({}, { deadlineMs: CALL_DEADLINE_MS }).catch((err: unknown) => void classify(run, "list", "*", err));
        if (listed) {
          count(run.outcomes, "list:OK");
          for (const x of listed.containers) seeState(run, x, "list");
        }
      }
    }
  } finally {
    c.close();
  }
}

const RUNC_OF_STATE: ReadonlyMap<number, string> = new Map([
  [S.CONTAINER_STATE_CONFIGURED, "absent"],
  [S.CONTAINER_STATE_EXITED, "absent"],
  [S.CONTAINER_STATE_CREATED, "created"],
  [S.CONTAINER_STATE_RUNNING, "running"],
  [S.CONTAINER_STATE_PAUSED, "paused"],
  [S.CONTAINER_STATE_STOPPED, "stopped"],
]);

async function runcStatus(runRoot: string, id: string): Promise<string> {
  try {
    const { stdout } = await execFileP("runc", ["--root", join(runRoot, RUNTIME_ROOT_SUBDIR), "state", id]);
    return (JSON.parse(stdout) as { status: string }).status;
  } catch (err) {
    if (String((err as { stderr?: string }).stderr ?? err).includes("does not exist")) return "absent";
    throw err;
  }
}

describe(`concurrency stress (${stressScale()}: ${CLIENTS} clients, ${CONTAINERS} containers, ${RUN_MS / 1000} s)`, () => {
  const s = daemonSuite({ daemon: { logLevel: "info" } });

  it("answers every call in time with OK or a documented refusal, keeps to the state table and loses no exit", { timeout: RUN_MS + 240_000 }, async () => {
    const run: RunState = {
      names: Array.from({ length: CONTAINERS }, (_, i) => uniqueName(`cc${i}`)),
      made: s.made,
      outcomes: new Map(),
      failures: [],
      statesSeen: new Set(),
      stop: false,
    };
    const stream: EventCollector = collectEvents(s.d.client, {}, RUN_MS + 200_000);
    for (const name of run.names) await createNamed(s.api, run, s.rootfs, name);
    const started = Date.now();
    const timer = setTimeout(() => (run.stop = true), RUN_MS);
    try {
      await Promise.all(Array.from({ length: CLIENTS }, () => client(run, s.d.socket, s.rootfs)));
    } finally {
      clearTimeout(timer);
      run.stop = true;
    }
    const elapsed = Date.now() - started;

    // Quiescence: hulld and runc agree once the last exits are handled.
    const finals: Container[] = [];
    for (const name of run.names) {
      const c = await s.api.inspectContainer({ id: name }).then(
        (r) => r.container,
        (err: unknown) => {
          if (errorInfo(err).code === grpc.status.NOT_FOUND) return undefined;
          throw err;
        },
      );
      if (!c) continue;
      let last = "";
      const agreed = await until(
        `${name}: hulld's state to agree with runc state`,
        async () => {
          const now = must((await s.api.inspectContainer({ id: c.id })).container, "inspect");
          const runc = await runcStatus(s.d.runRoot, c.id);
          last = `hulld ${stateLabel(now.state)} (${now.stateReason || "no reason"}), runc ${runc}`;
          return RUNC_OF_STATE.get(now.state) === runc && now.state !== S.CONTAINER_STATE_STOPPED ? now : undefined;
        },
        20_000,
        200,
      ).catch((err: unknown) => {
        run.failures.push(`${String(err instanceof Error ? err.message : err)}: last seen ${last}`);
        return undefined;
      });
      if (agreed) finals.push(agreed);
    }

    // Stop what still runs (its process could otherwise exit by itself between
    // the Inspect and the events read below), and let cleanup finish.
    const settled: Container[] = [];
    for (const c of finals) {
      if ([S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_CREATED].includes(c.state)) {
        // Its process may have ended by itself since the look above.
        await s.api.stopContainer({ id: c.id, timeoutSeconds: 0 }).catch((err: unknown) => {
          if (errorInfo(err).reason !== "CONTAINER_ALREADY_STOPPED") throw err;
        });
      }
      const done = await s.api.waitContainer({
        id: c.id,
        condition: c.state === S.CONTAINER_STATE_CONFIGURED ? S.CONTAINER_STATE_CONFIGURED : S.CONTAINER_STATE_EXITED,
      });
      const now = must((await s.api.inspectContainer({ id: c.id })).container, "inspect");
      seeState(run, now, "final inspect");
      assert.equal(now.exitCode, done.exitCode, `${c.name}: Wait and Inspect disagree on the exit code`);
      settled.push(now);
    }

    // Every stored event reached the live stream, in one unbroken run of sequences.
    const replay = collectEvents(s.d.client, { since: new Date(0), until: new Date() });
    await replay.ended;
    const last = replay.events.at(-1)?.sequence ?? 0;
    await stream.waitFor(`event #${last} on the live stream`, (ev) => ev.sequence >= last);
    stream.call.cancel();
    const live = [...stream.events].sort((a, b) => a.sequence - b.sequence);
    const seqs = new Set(live.map((e) => e.sequence));
    const first = live[0]?.sequence ?? 0;
    const gaps = [];
    for (let q = first; q <= last; q++) if (!seqs.has(q)) gaps.push(q);
    if (gaps.length > 0) run.failures.push(`live stream missed ${gaps.length} events: ${gaps.slice(0, 10).join(", ")}`);
    run.failures.push(...checkTransitions(live));

    // No exit lost: Inspect's exit code is the last exit event's (init resets it to 0).
    for (const c of settled) {
      const evs = live.filter((e) => e.containerId === c.id && (e.type === "exit" || e.type === "init"));
      const lastRun = evs.at(-1);
      if (lastRun?.type === "exit" && String(c.exitCode) !== lastRun.attributes.exitCode) {
        const trail = live
          .filter((e) => e.containerId === c.id)
          .slice(-8)
          .map((e) => `${e.type}:${stateLabel(e.state).replace("CONTAINER_STATE_", "")}`);
        run.failures.push(`${c.name}: Inspect says exit code ${c.exitCode}, its last exit event ${lastRun.attributes.exitCode} (${trail.join(" ")})`);
      }
    }

    const total = [...run.outcomes.values()].reduce((a, b) => a + b, 0);
    const exits = live.filter((e) => e.type === "exit");
    console.log(
      [
        `concurrency stress: ${total} operations in ${(elapsed / 1000).toFixed(1)} s by ${CLIENTS} clients on ${CONTAINERS} containers (${run.made.length} created in all)`,
        `events: ${live.length} live (#${first}..#${last}), ${exits.length} exits (codes ${[...new Set(exits.map((e) => e.attributes.exitCode))].sort().join(",")})`,
        `states seen: ${[...run.statesSeen].map(stateLabel).join(", ")}`,
        `final: ${finals.map((c) => `${c.name}=${stateLabel(c.state).replace("CONTAINER_STATE_", "")}`).join(" ")}`,
        "outcomes:",
        ...[...run.outcomes.entries()].sort().map(([k, v]) => `  ${k.padEnd(60)} ${v}`),
        `failures: ${run.failures.length}`,
        ...run.failures.slice(0, 40).map((f) => `  ${f}`),
      ].join("\n"),
    );
    assert.deepEqual(run.failures, [], `${run.failures.length} failures (first ones above)`);
  });
});

// The races the stress run found, each pinned down deterministically.
describe("races found by the concurrency stress", () => {
  const s = daemonSuite({ daemon: { logLevel: "info" } });

  it("kills and SIGKILL stops of paused containers keep hulld and runc in agreement", async () => {
    // PID 1 without a handler ignores SIGUSR1: the container lives on.
    const c = must((await s.api.createContainer({ config: { name: uniqueName("thaw"), rootfsPath: s.rootfs, command: [...SLEEP] } })).container, "container");
    s.made.push(c.id);
    await s.api.startContainer({ id: c.id });
    await s.api.pauseContainer({ id: c.id });
    // runc's kill --all thaws the cgroup it froze to signal it.
    const signalled = must((await s.api.killContainer({ id: c.id, signal: "SIGUSR1" })).container, "kill");
    assert.equal(await runcStatus(s.d.runRoot, c.id), "running");
    assert.equal(stateLabel(signalled.state), stateLabel(S.CONTAINER_STATE_RUNNING));
    await s.api.pauseContainer({ id: c.id });
    // runc thaws a paused container for SIGKILL itself: resuming it after must not fail the stop.
    const stopped = must((await s.api.stopContainer({ id: c.id, timeoutSeconds: 0 })).container, "stop");
    assert.ok([S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED].includes(stopped.state), stateLabel(stopped.state));
    assert.equal(stopped.exitCode, 137);
    // And a SIGKILL kill of a paused container ends in its exit, recorded.
    await s.api.startContainer({ id: c.id });
    await s.api.pauseContainer({ id: c.id });
    await s.api.killContainer({ id: c.id, signal: "SIGKILL" });
    const done = await s.api.waitContainer({ id: c.id, condition: S.CONTAINER_STATE_EXITED });
    assert.equal(done.exitCode, 137);
  });

  it("a cleanup while a stop waits records the exit it causes", async () => {
    const c = must(
      (await s.api.createContainer({ config: { name: uniqueName("cst"), rootfsPath: s.rootfs, command: [...IGNORE_TERM] } })).container,
      "container",
    );
    s.made.push(c.id);
    await s.api.startContainer({ id: c.id });
    const stopping = s.api.stopContainer({ id: c.id, timeoutSeconds: 25 });
    await s.api.waitContainer({ id: c.id, condition: S.CONTAINER_STATE_STOPPING });
    const cleaned = must((await s.api.cleanupContainer({ id: c.id })).container, "cleanup");
    assert.equal(stateLabel(cleaned.state), stateLabel(S.CONTAINER_STATE_EXITED));
    assert.equal(cleaned.exitCode, 137, "the exit delete --force caused is recorded");
    const replay = collectEvents(s.d.client, { containers: [c.id], since: new Date(0), until: new Date() });
    await replay.ended;
    assert.deepEqual(
      replay.events.map((e) => e.type),
      ["create", "init", "start", "stop", "exit", "cleanup"],
    );
    assert.equal(must((await stopping).container, "stop").exitCode, 137);
  });
});
