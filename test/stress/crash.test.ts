// Crash stress: 8 clients loop whole lifecycles (create → init/start → stop,
// kill, pause/unpause or exec → wait → rm) over their own containers while
// hulld is SIGKILLed at random moments and restarted. After every restart,
// before the clients go on: every record agrees with runc, no record a client
// saw created is lost, none is doubled, and nothing (runtime container,
// conmon, mount) is left without a record. Rounds: stressCount(6, 20).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { Container, ContainerConfig, DeepPartial } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { errorInfo, type Api } from "../helpers/api.js";
import { importRootfsImage } from "../helpers/images.js";
import { stressCount } from "../helpers/stress.js";
import { S, sleep, stateLabel } from "../helpers/fixtures.js";
import { conmonsUnder, mountsUnder, runcList, runcState } from "../helpers/host-view.js";

const CLIENTS = 8;
const IMAGE_CLIENTS = 2;
/** How long a disagreement between a record and runc may last (an exit being recorded) before it is a failure. */
const SETTLE_MS = 10_000;

/** Closed while hulld is down and being checked: clients wait at it before every call. */
class Gate {
  epoch = 0;
  private open = true;
  private waiters: Array<() => void> = [];
  async pass(): Promise<number> {
    while (!this.open) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.epoch;
  }
  close(): void {
    this.open = false;
    this.epoch++;
  }
  reopen(): void {
    this.open = true;
    for (const w of this.waiters.splice(0)) w();
  }
}

type Phase = "creating" | "live" | "removing";
interface Tracked {
  name: string;
  id?: string;
  /** creating/removing: the call may or may not have taken effect (hulld died under it). */
  phase: Phase;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; crashed: boolean; err: unknown };

const COMMANDS: Record<string, string[]> = {
  // PID 1 ignores SIGTERM: a stop waits its timeout, then SIGKILL (a STOPPING window).
  stubborn: ["sleep", "1000"],
  // Leaves on SIGTERM.
  polite: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
  // Exits by itself with 3.
  brief: ["sh", "-c", "sleep 0.4; exit 3"],
};

describe("stress: SIGKILL of hulld under a lifecycle workload", () => {
  const s = daemonSuite();
  const gate = new Gate();
  const tracked = new Map<string, Tracked>();
  const failures: string[] = [];
  let ops = 0;
  /** Calls cut short by a SIGKILL of hulld. */
  let cut = 0;
  let stopping = false;

  async function call<T>(fn: (api: Api) => Promise<T>): Promise<Outcome<T>> {
    const epoch = await gate.pass();
    try {
      const value = await fn(s.d.api);
      ops++;
      return { ok: true, value };
    } catch (err) {
      const crashed = epoch !== gate.epoch || !s.d.running() || errorInfo(err).code === grpc.status.UNAVAILABLE;
      if (crashed) cut++;
      return { ok: false, crashed, err };
    }
  }

  function fail(client: number, what: string, err: unknown): void {
    const e = errorInfo(err);
    failures.push(`client ${client}: ${what}: ${grpc.status[e.code] ?? e.code} ${e.reason} ${e.message}`);
  }

  /** Force-removes until hulld confirms (NOT_FOUND counts); a crash just means trying again. */
  async function finish(client: number, t: Tracked): Promise<void> {
    t.phase = "removing";
    for (let refused = 0; ;) {
      const r = await call((api) => api.removeContainer({ id: t.id ?? t.name, force: true, timeoutSeconds: 0 }));
      if (r.ok || errorInfo(r.err).code === grpc.status.NOT_FOUND) break;
      if (!r.crashed) {
        fail(client, `force remove of ${t.name}`, r.err);
        // Recorded as a failure; give up on this one rather than spin until the test's timeout.
        if (++refused >= 10) return;
        await sleep(200);
      }
    }
    tracked.delete(t.name);
  }

  async function lifecycle(client: number, n: number, image: boolean): Promise<void> {
    const kind = (["stubborn", "polite", "brief"] as const)[Math.floor(Math.random() * 3)]!;
    const t: Tracked = { name: `crash-${client}-${n}`, phase: "creating" };
    tracked.set(t.name, t);
    const config: DeepPartial<ContainerConfig> = {
      name: t.name,
      command: COMMANDS[kind],
      stopTimeoutSeconds: 1,
      ...(image ? { image: "crash" } : { rootfsPath: rootfs }),
    };
    const created = await call((api) => api.createContainer({ config }));
    if (!created.ok) {
      if (!created.crashed) fail(client, `create ${t.name}`, created.err);
      // Did it happen? Ask by name once hulld is back.
      const found = await call((api) => api.inspectContainer({ id: t.name }));
      if (found.ok && found.value.container) {
        t.id = found.value.container.id;
        return finish(client, t);
      }
      tracked.delete(t.name);
      return;
    }
    t.id = created.value.container?.id;
    t.phase = "live";
    const id = t.id ?? t.name;
    const steps: Array<[string, (api: Api) => Promise<unknown>]> = [];
    if (Math.random() < 0.5) steps.push(["init", (api) => api.initContainer({ id })]);
    steps.push(["start", (api) => api.startContainer({ id })]);
    if (kind !== "brief") {
      const middle = Math.floor(Math.random() * 4);
      if (middle === 0) steps.push(["pause", (api) => api.pauseContainer({ id })], ["unpause", (api) => api.unpauseContainer({ id })]);
      if (middle === 1) steps.push(["exec", (api) => api.execSync({ id, command: ["echo", "hi"], timeoutSeconds: 10 })]);
      steps.push(
        middle === 2 ? ["kill", (api) => api.killContainer({ id, signal: "SIGKILL" })] : ["stop", (api) => api.stopContainer({ id, timeoutSeconds: 1 })],
      );
    }
    steps.push(["wait", (api) => api.waitContainer({ id }, { deadlineMs: 30_000 })]);
    for (const [what, step] of steps) {
      const r = await call(step);
      if (!r.ok) {
        if (!r.crashed) fail(client, `${what} ${t.name} (${kind})`, r.err);
        return finish(client, t);
      }
    }
    t.phase = "removing";
    const rm = await call((api) => api.removeContainer({ id }));
    if (!rm.ok) {
      if (!rm.crashed) fail(client, `rm ${t.name}`, rm.err);
      return finish(client, t);
    }
    tracked.delete(t.name);
  }

  async function clientLoop(client: number): Promise<number> {
    let n = 0;
    while (!stopping) await lifecycle(client, n++, client < IMAGE_CLIENTS);
    return n;
  }

  /** Whether runc's view of a container allows the record's state. */
  function agrees(c: Container, status: string | undefined): boolean {
    switch (c.state) {
      case S.CONTAINER_STATE_RUNNING:
        return status === "running";
      case S.CONTAINER_STATE_PAUSED:
        return status === "paused";
      case S.CONTAINER_STATE_CREATED:
        return status === "created";
      case S.CONTAINER_STATE_STOPPING:
        return status === "running" || status === "paused";
      case S.CONTAINER_STATE_STOPPED:
        return status === "stopped" || status === undefined;
      case S.CONTAINER_STATE_EXITED:
      case S.CONTAINER_STATE_CONFIGURED:
        return status === undefined;
      default:
        return false;
    }
  }

  /** The invariants after a restart; returns [containers checked, orphans found]. */
  async function check(round: number): Promise<[number, number]> {
    const api = s.d.api;
    const list = (await api.listContainers({})).containers;
    const byName = new Map<string, Container[]>();
    for (const c of list) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
    for (const [name, cs] of byName) assert.equal(cs.length, 1, `round ${round}: name ${name} is held by ${cs.length} records`);
    for (const t of tracked.values()) {
      const here = byName.get(t.name) ?? [];
      if (t.phase === "live") assert.equal(here.length, 1, `round ${round}: ${t.name} (${t.id?.slice(0, 12)}) was created and not removed, but is lost`);
      if (t.id !== undefined && here.length === 1) assert.equal(here[0]!.id, t.id, `round ${round}: ${t.name} has another id`);
    }
    for (const c of list) {
      const deadline = Date.now() + SETTLE_MS;
      let cur = c;
      let status = (await runcState(s.d.runRoot, c.id))?.status;
      while (!agrees(cur, status)) {
        assert.ok(
          Date.now() < deadline,
          `round ${round}: ${cur.name} is ${stateLabel(cur.state)} (${cur.stateReason}) but runc says ${status ?? "no such container"}`,
        );
        await sleep(200);
        const again = (await api.inspectContainer({ id: c.id })).container;
        assert.ok(again, `round ${round}: ${c.name} vanished from the store while being checked`);
        cur = again;
        status = (await runcState(s.d.runRoot, c.id))?.status;
      }
    }
    const ids = new Set(list.map((c) => c.id));
    const orphans = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const id of (await runcList(s.d.runRoot)).keys()) if (!ids.has(id)) out.push(`runtime container ${id}`);
      for (const m of await conmonsUnder([s.d.root, s.d.runRoot])) if (!ids.has(m.containerId)) out.push(`conmon ${m.pid} for ${m.containerId}`);
      for (const m of await mountsUnder([s.d.root, s.d.runRoot])) {
        const owner = list.find((c) => m.includes(`/${c.id}/`));
        // A container with no runtime container and no mount count holds no overlay either.
        if (!owner || ((owner.state === S.CONTAINER_STATE_EXITED || owner.state === S.CONTAINER_STATE_CONFIGURED) && !owner.mounted)) out.push(`mount ${m}`);
      }
      return out;
    };
    let found = await orphans();
    // A monitor whose container was removed a moment ago exits on its own.
    for (let i = 0; i < 10 && found.length > 0; i++) {
      await sleep(300);
      found = await orphans();
    }
    assert.deepEqual(found, [], `round ${round}: leftovers without a record`);
    return [list.length, found.length];
  }

  let rootfs = "";

  it("survives SIGKILLs at random moments with every record true to runc and no orphans", { timeout: 30 * 60_000 }, async () => {
    rootfs = s.rootfs;
    const work = await mkdtemp(join(tmpdir(), "hull-crash-"));
    try {
      await importRootfsImage(s.d.socket, s.rootfs, work, "crash");
    } finally {
      await rm(work, { recursive: true, force: true });
    }

    const rounds = stressCount(6, 20);
    const loops = Array.from({ length: CLIENTS }, (_, i) => clientLoop(i));
    let checked = 0;
    let orphansFound = 0;
    let survived = 0;
    try {
      for (let round = 1; round <= rounds; round++) {
        await sleep(800 + Math.random() * 2200);
        gate.close();
        await s.d.kill();
        // Down for a moment: containers may exit meanwhile.
        await sleep(Math.random() * 600);
        await s.d.restart();
        const [n, o] = await check(round);
        checked += n;
        orphansFound += o;
        survived++;
        const opsBefore = ops;
        gate.reopen();
        // The workload goes on against the restarted hulld.
        for (let waited = 0; ops === opsBefore; waited += 50) {
          assert.ok(waited < 30_000, `round ${round}: no client call succeeded after the restart`);
          await sleep(50);
        }
      }
      await sleep(1500);
    } finally {
      stopping = true;
      gate.reopen();
    }
    const lifecycles = (await Promise.all(loops)).reduce((a, b) => a + b, 0);
    const [, finalOrphans] = await check(rounds + 1);
    assert.equal((await s.d.api.listContainers({})).containers.length, 0, "every client removed its containers");
    // What recovery itself reported at each start (pino JSON lines of hulld).
    const recoveries = s.d
      .output()
      .split("\n")
      .filter((l) => l.includes("reconciled the store with the runtime"))
      .map((l) => JSON.parse(l) as { repaired: number; orphans: number });
    const hulldErrors = s.d
      .output()
      .split("\n")
      .filter((l) => /"level":(50|60)/.test(l));
    console.log(
      `crash stress: rounds survived=${survived}/${rounds}, operations run=${ops}, calls cut by a crash=${cut}, lifecycles=${lifecycles}, ` +
        `containers checked=${checked}, orphans found=${orphansFound + finalOrphans}, repaired by recovery=${recoveries.reduce((a, r) => a + r.repaired, 0)}, ` +
        `orphans swept by recovery=${recoveries.reduce((a, r) => a + r.orphans, 0)}, hulld error lines=${hulldErrors.length}, client errors=${failures.length}`,
    );
    for (const line of hulldErrors.slice(0, 10)) console.log(`hulld error: ${line.slice(0, 600)}`);
    const swept = new Map<string, number>();
    for (const l of s.d
      .output()
      .split("\n")
      .filter((x) => x.includes("has no record of"))) {
      const what = (JSON.parse(l) as { found: string[] }).found.join("+");
      swept.set(what, (swept.get(what) ?? 0) + 1);
    }
    console.log(`crash stress: leftovers swept at start, by kind: ${JSON.stringify(Object.fromEntries(swept))}`);
    const repairs = new Map<string, number>();
    for (const l of s.d
      .output()
      .split("\n")
      .filter((x) => /"level":40/.test(x) && !x.includes("has no record of"))) {
      const msg = (JSON.parse(l) as { msg: string }).msg;
      repairs.set(msg, (repairs.get(msg) ?? 0) + 1);
    }
    console.log(`crash stress: warnings at start, by message: ${JSON.stringify(Object.fromEntries(repairs))}`);
    assert.deepEqual(failures, [], "no call failed for a reason other than the crash");
  });
});
