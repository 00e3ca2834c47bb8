// Races and limits an outside hostile test found, against a real hulld:
// Pause, Kill and Unpause sent right behind (or just after) the start of a
// container that exits at once must answer OK or the state table's refusal,
// never INTERNAL (a runtime refusal the exit explains is re-synced, see
// Engine.explainRefusal); an ExecSync with a huge program name or working
// dir answers INVALID_ARGUMENT or 127/126 at once; and no exec, slow or
// failing, blocks the other calls on its container.
import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { daemonSuite } from "../helpers/suite.js";
import { BatchOperationKind } from "../../src/gen/hull/v1/container.js";
import { errorInfo, statusReason, type Api } from "../helpers/api.js";
import { S, SLEEP, create, createStarted, inspect, must, pending, until } from "../helpers/fixtures.js";

/** The answers the state table gives an operation the container's state refuses. */
const REFUSALS = new Set(["CONTAINER_STATE_INVALID", "CONTAINER_ALREADY_STOPPED"]);
const ROUNDS = 200;
/** Containers raced in parallel; each is started again once its last run has exited. */
const LANES = 4;
/** Execs raced against a Pause/Unpause loop. */
const EXEC_RACE_ROUNDS = 120;

interface Answer {
  /** "OK", or the status and reason the call failed with. */
  label: string;
  message: string;
}

/** Settles at once into an Answer, so a call awaited later never counts as an unhandled rejection. */
function answer(call: Promise<unknown>): Promise<Answer> {
  return call.then(
    () => ({ label: "OK", message: "" }),
    (err: unknown) => {
      const e = errorInfo(err);
      return { label: `${grpc.status[e.code] ?? e.code}/${e.reason}`, message: e.message };
    },
  );
}

/** OK, or a FAILED_PRECONDITION the state table gives. */
function acceptable(o: string): boolean {
  if (o === "OK") return true;
  const [code, reason] = o.split("/");
  return code === "FAILED_PRECONDITION" && REFUSALS.has(reason ?? "");
}

class Tally {
  readonly counts = new Map<string, number>();
  readonly bad: string[] = [];

  add(what: string, o: string, detail = ""): void {
    const key = `${what}: ${o}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (!acceptable(o)) this.bad.push(`${key} ${detail}`);
  }

  report(t: TestContext): void {
    for (const [key, n] of [...this.counts].sort(([a], [b]) => a.localeCompare(b))) t.diagnostic(`${key} × ${n}`);
  }
}

const VERBS = ["pause", "kill", "unpause", "stop", "batch pause"] as const;
type Verb = (typeof VERBS)[number];

/** One verb's call, settled into an Answer; a Batch's single step answers through its result's status. */
function send(api: Api, id: string, verb: Verb): Promise<Answer> {
  switch (verb) {
    case "pause":
      return answer(api.pauseContainer({ id }));
    case "kill":
      return answer(api.killContainer({ id, signal: "SIGKILL" }));
    case "unpause":
      return answer(api.unpauseContainer({ id }));
    case "stop":
      return answer(api.stopContainer({ id, timeoutSeconds: 0 }));
    case "batch pause": {
      const batch = api.batch({ id, operations: [{ kind: BatchOperationKind.BATCH_OPERATION_KIND_PAUSE }] });
      return answer(batch).then(async (a) => {
        if (a.label !== "OK") return a;
        const status = must((await batch).results[0]?.status, "the pause step's status");
        return status.code === grpc.status.OK ? a : { label: `${grpc.status[status.code] ?? status.code}/${statusReason(status)}`, message: status.message };
      });
    }
  }
}

/** Ends a run that a successful Pause may have left frozen, then waits for the exit's cleanup (EXITED). */
async function settle(api: Api, id: string, paused: boolean): Promise<void> {
  if (paused && (await inspect(api, id)).state === S.CONTAINER_STATE_PAUSED) await api.killContainer({ id, signal: "SIGKILL" }).catch(() => undefined);
  await api.waitContainer({ id, condition: S.CONTAINER_STATE_EXITED }, { deadlineMs: 20_000 });
}

/** Engine.explainRefusal's debug line: a runtime refusal answered from the state table. */
const EXPLAINED = "a runtime refusal explained by the process's exit";

/** A millisecond-resolution clock for "answered within". */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await p;
  return { ms: Math.round(performance.now() - t0), value };
}

describe("exit races and exec limits", () => {
  // Debug level: the daemon then logs each refusal explainRefusal answered, so
  // the test can tell how often the race it is about was really run into.
  const s = daemonSuite({ daemon: { logLevel: "debug" } });
  const api = (): Api => s.d.api;

  it(`Start → Pause/Kill/Unpause/Stop/Batch racing an immediate exit, ${ROUNDS} rounds: never INTERNAL`, async (t) => {
    const ids: string[] = [];
    for (let i = 0; i < LANES; i++) {
      const c = await create(api(), s.rootfs, ["true"]);
      s.made.push(c.id);
      ids.push(c.id);
    }
    const tally = new Tally();
    const t0 = Date.now();
    let next = 0;
    const lane = async (id: string): Promise<void> => {
      for (let round = next++; round < ROUNDS; round = next++) {
        // Even rounds: all three sent right behind the start, without waiting
        // for its answer (they queue on the container's lock). Odd rounds:
        // sent the moment Start answers, the process exiting meanwhile.
        const behind = round % 2 === 0;
        const variant = behind ? "behind" : "after";
        const start = answer(api().startContainer({ id }));
        if (!behind) await start;
        // Only the first call to take the lock after Start meets the exit
        // half-seen; the order turns each round pair, so each verb is first.
        const turn = Math.floor(round / 2) % VERBS.length;
        const order = [...VERBS.slice(turn), ...VERBS.slice(0, turn)];
        const verbs = order.map((verb) => [verb, send(api(), id, verb)] as const);
        let paused = false;
        for (const [verb, call] of [["start", start] as const, ...verbs]) {
          const a = await call;
          tally.add(`${variant} ${verb}`, a.label, `(round ${round}: ${a.message.slice(0, 300)})`);
          if ((verb === "pause" || verb === "batch pause") && a.label === "OK") paused = true;
        }
        await settle(api(), id, paused);
      }
    };
    await Promise.all(ids.map((id) => lane(id)));
    t.diagnostic(`${ROUNDS} rounds on ${LANES} containers in ${Date.now() - t0} ms`);
    tally.report(t);
    // A lower bound: the daemon's captured output is bounded.
    t.diagnostic(`runtime refusals answered from the state table (the race run into): at least ${s.d.output().split(EXPLAINED).length - 1}`);
    assert.deepEqual(tally.bad, [], "every answer is OK or the state table's refusal");
    const answers = [...tally.counts.values()].reduce((a, b) => a + b, 0);
    assert.equal(answers, ROUNDS * (1 + VERBS.length), "every call answered once");
    // Unpause is refused whenever the container is not paused: the calls did reach the state table.
    assert.ok(
      [...tally.counts].some(([key]) => key.includes("FAILED_PRECONDITION")),
      "some calls met the exit",
    );
  });

  // The concurrency stress test's find: an exec checked RUNNING, a Pause froze
  // the container before runc exec looked ("cannot exec in a paused
  // container"), and an Unpause thawed it before hulld looked again.
  it(`ExecSync racing Pause and Unpause from another client, ${EXEC_RACE_ROUNDS} execs: OK or the state table's refusal, never INTERNAL`, async (t) => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const tally = new Tally();
    let execsLeft = EXEC_RACE_ROUNDS;
    const execLane = async (): Promise<void> => {
      while (execsLeft-- > 0) {
        const a = await answer(api().execSync({ id: c.id, command: ["true"] }, { deadlineMs: 20_000 }));
        tally.add("exec", a.label, a.message.slice(0, 300));
      }
    };
    let execsDone = false;
    const freezer = async (): Promise<void> => {
      while (!execsDone) {
        tally.add("pause", (await answer(api().pauseContainer({ id: c.id }))).label);
        tally.add("unpause", (await answer(api().unpauseContainer({ id: c.id }))).label);
      }
    };
    const flipping = freezer();
    await Promise.all([execLane(), execLane()]);
    execsDone = true;
    await flipping;
    tally.report(t);
    assert.deepEqual(tally.bad, [], "every answer is OK or the state table's refusal");
    assert.equal((await inspect(api(), c.id)).state, S.CONTAINER_STATE_RUNNING, "the last Unpause thawed it");
  });

  describe("ExecSync into a running container", () => {
    let running = "";
    const ensureRunning = async (): Promise<string> => {
      if (running === "") {
        const c = await createStarted(api(), s.rootfs, SLEEP);
        s.made.push(c.id);
        running = c.id;
      }
      return running;
    };
    const shortParts = (bytes: number): string => `/${Array.from({ length: Math.ceil(bytes / 10) }, () => "abcdefghi").join("/")}`.slice(0, bytes);
    // A program path of control characters in 254-byte components: within
    // NAME_MAX and PATH_MAX, but runc quotes each byte as \x01, so its refusal
    // (16 KiB) reaches hulld cut at conmon's 8 KiB: only runc's log says why.
    const escaped = `/${Array.from({ length: 16 }, () => "\x01".repeat(254)).join("/")}`;
    const cases: Array<[string, { command: string[]; workingDir?: string }]> = [
      ["a 100 KiB program name", { command: ["a".repeat(100 * 1024)] }],
      ["a 20 KiB program name", { command: ["a".repeat(20 * 1024)] }],
      ["an 8 KiB program path", { command: [`/bin/${"a".repeat(8 * 1024)}`] }],
      ["a missing 4,001-byte working dir of short components", { command: ["true"], workingDir: shortParts(4001) }],
      ["a 100 KiB working dir", { command: ["true"], workingDir: `/${"d".repeat(100 * 1024)}` }],
      ["a 100 KiB working dir of short components", { command: ["true"], workingDir: shortParts(100 * 1024) }],
      ["a missing 4,080-byte program path runc quotes as 16 KiB", { command: [escaped] }],
      ["a missing 4,080-byte working dir runc quotes as 16 KiB", { command: ["true"], workingDir: escaped }],
    ];

    for (const [what, req] of cases) {
      it(`${what}: INVALID_ARGUMENT or 127/126 within 5 s`, async (t) => {
        const id = await ensureRunning();
        const { ms, value } = await timed(
          api()
            .execSync({ id, ...req }, { deadlineMs: 10_000 })
            .then(
              (res) => ({ exitCode: res.exitCode, stderr: res.stderr.toString() }),
              (err: unknown) => errorInfo(err),
            ),
        );
        if ("exitCode" in value) {
          t.diagnostic(`exit ${value.exitCode} in ${ms} ms: ${value.stderr.slice(0, 160)}`);
          assert.ok(value.exitCode === 127 || value.exitCode === 126, `exit ${value.exitCode}: ${value.stderr.slice(0, 300)}`);
        } else {
          t.diagnostic(`${grpc.status[value.code]} ${value.reason} in ${ms} ms: ${value.message.slice(0, 160)}`);
          assert.equal(value.code, grpc.status.INVALID_ARGUMENT, `${value.reason}: ${value.message.slice(0, 300)}`);
          assert.equal(value.reason, "INVALID_ARGUMENT");
          assert.match(value.metadata.field ?? "", /^(command\[0\]|working_dir)$/);
        }
        assert.ok(ms < 5000, `answered in ${ms} ms`);
      });
    }

    it("Pause, Unpause, PutArtifact and Inspect answer within 2 s while execs are in flight; Restart too", async (t) => {
      const id = await ensureRunning();
      const slow = pending(api().execSync({ id, command: ["sleep", "5"] }, { deadlineMs: 30_000 }));
      // Failing execs that do reach runc, started alongside.
      const failing = [pending(api().execSync({ id, command: [escaped] })), pending(api().execSync({ id, command: ["true"], workingDir: shortParts(4001) }))];
      await until(
        "the slow exec to be running",
        async () => ((await inspect(api(), id)).execSessions.some((x) => x.running && x.command[0] === "sleep") ? true : undefined),
        5000,
        50,
      );
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["Inspect", () => api().inspectContainer({ id })],
        ["Pause", () => api().pauseContainer({ id })],
        ["Inspect (paused)", () => api().inspectContainer({ id })],
        ["Unpause", () => api().unpauseContainer({ id })],
        ["PutArtifact", () => api().putArtifact({ id, name: "during-exec.txt", data: Buffer.from("x") })],
        ["Inspect (running)", () => api().inspectContainer({ id })],
      ];
      for (const [what, call] of calls) {
        const { ms } = await timed(call());
        t.diagnostic(`${what}: ${ms} ms`);
        assert.ok(ms < 2000, `${what} took ${ms} ms`);
      }
      assert.equal(slow.done(), false, "the slow exec is still running: the calls above were made while it ran");
      // Each either ran into the missing program or dir, or found the container paused: never INTERNAL.
      for (const f of failing) {
        const o = await f.outcome;
        if (o.ok) {
          assert.ok(o.value.exitCode === 127 || o.value.exitCode === 126, `exit ${o.value.exitCode}`);
        } else {
          const e = errorInfo(o.error);
          assert.deepEqual([e.code, e.reason], [grpc.status.FAILED_PRECONDITION, "CONTAINER_STATE_INVALID"], e.message);
        }
      }
      // Restart ends the exec's process with the container's; it must not wait for the exec first.
      const restart = await timed(api().restartContainer({ id, timeoutSeconds: 0 }, { deadlineMs: 20_000 }));
      t.diagnostic(`Restart: ${restart.ms} ms`);
      assert.ok(restart.ms < 5000, `Restart took ${restart.ms} ms`);
      assert.equal(must(restart.value.container, "restart").state, S.CONTAINER_STATE_RUNNING);
      const ended = await slow.outcome;
      t.diagnostic(`the slow exec ended with ${ended.ok ? `exit ${ended.value.exitCode}` : errorInfo(ended.error).reason}`);
      if (!ended.ok) assert.notEqual(errorInfo(ended.error).code, grpc.status.INTERNAL, errorInfo(ended.error).message);
    });
  });
});
