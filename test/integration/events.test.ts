// Events against a real hulld (runc + conmon): the full sequence of a run,
// the attributes each lifecycle change carries, filters, the replay/live seam
// while events are being produced, `until`, refusals, and `hull events`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import type { Event } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { errorInfo, type Api } from "../helpers/api.js";
import { SLEEP, create, createStarted, waitExited } from "../helpers/fixtures.js";
import { collectEvents, describeEvents, type EventCollector } from "../helpers/event-stream.js";

const HULL = fileURLToPath(new URL("../../src/cli/hull.js", import.meta.url));

function hull(socket: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [HULL, "--socket", socket, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

const typesOf = (events: Event[], id: string): string[] => events.filter((e) => e.containerId === id).map((e) => e.type);

describe("events", () => {
  const streams: EventCollector[] = [];
  const s = daemonSuite({
    beforeCleanup: async () => {
      for (const st of streams) if (!st.isEnded()) st.call.cancel();
    },
  });
  const api = (): Api => s.api;
  const open = (req: Parameters<typeof collectEvents>[1]): EventCollector => {
    const c = collectEvents(s.d.client, req);
    streams.push(c);
    return c;
  };

  it("a subscriber sees the full sequence of a run, in order, with id, name and exit code", async () => {
    const stream = open({ since: new Date() });
    const c = await create(api(), s.rootfs, ["sh", "-c", "exit 3"]);
    s.made.push(c.id);
    await api().startContainer({ id: c.id });
    await waitExited(api(), c.id);
    await api().removeContainer({ id: c.id });
    await stream.waitFor("the remove event", (e) => e.containerId === c.id && e.type === "remove");
    assert.deepEqual(typesOf(stream.events, c.id), ["create", "init", "start", "exit", "cleanup", "remove"], describeEvents(stream.events));
    const mine = stream.events.filter((e) => e.containerId === c.id);
    for (const e of mine) {
      assert.equal(e.containerName, c.name);
      assert.ok(e.time instanceof Date && e.sequence > 0);
    }
    assert.equal(mine.find((e) => e.type === "exit")?.attributes.exitCode, "3");
    const seqs = mine.map((e) => e.sequence);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      "sequences increase",
    );
    stream.call.cancel();
  });

  it("stop, kill, pause and unpause events carry their signals and states", async () => {
    const stream = open({ since: new Date() });
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    await api().pauseContainer({ id: c.id });
    await api().unpauseContainer({ id: c.id });
    await api().stopContainer({ id: c.id, timeoutSeconds: 0 });
    await waitExited(api(), c.id);
    await stream.waitFor("the cleanup", (e) => e.containerId === c.id && e.type === "cleanup");
    const k = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(k.id);
    await api().killContainer({ id: k.id, signal: "SIGKILL" });
    await waitExited(api(), k.id);
    await stream.waitFor("the kill's cleanup", (e) => e.containerId === k.id && e.type === "cleanup");
    const get = (id: string, type: string): Event | undefined => stream.events.find((e) => e.containerId === id && e.type === type);
    assert.deepEqual(typesOf(stream.events, c.id), ["create", "init", "start", "pause", "unpause", "stop", "exit", "cleanup"]);
    assert.deepEqual(get(c.id, "stop")?.attributes, { signal: "9", timeout: "0" });
    assert.deepEqual(get(c.id, "exit")?.attributes, { exitCode: "137", signal: "9" });
    assert.deepEqual(typesOf(stream.events, k.id), ["create", "init", "start", "kill", "exit", "cleanup"]);
    assert.equal(get(k.id, "kill")?.attributes.signal, "9");
    assert.equal(get(k.id, "exit")?.attributes.exitCode, "137");
    stream.call.cancel();
  });

  it("filters by container (name or id, still matching after removal) and by type", async () => {
    const since = new Date();
    const a = await create(api(), s.rootfs, ["true"]);
    const b = await create(api(), s.rootfs, ["true"]);
    s.made.push(a.id, b.id);
    const byName = open({ since, containers: [a.name], types: ["start", "exit", "remove"] });
    const byPrefix = open({ since, containers: [b.id.slice(0, 16)] });
    for (const x of [a, b]) {
      await api().startContainer({ id: x.id });
      await waitExited(api(), x.id);
    }
    await api().removeContainer({ id: a.id });
    await byName.waitFor("a's remove", (e) => e.type === "remove");
    await byPrefix.waitFor("b's cleanup", (e) => e.type === "cleanup");
    assert.deepEqual(
      byName.events.map((e) => [e.type, e.containerId]),
      [
        ["start", a.id],
        ["exit", a.id],
        ["remove", a.id],
      ],
    );
    assert.deepEqual(typesOf(byPrefix.events, b.id), ["create", "init", "start", "exit", "cleanup"]);
    assert.ok(
      byPrefix.events.every((e) => e.containerId === b.id),
      describeEvents(byPrefix.events),
    );
    byName.call.cancel();
    byPrefix.call.cancel();
  });

  it("since replays stored events, then continues live, with no gap or duplicate at the seam under load", async () => {
    let stop = false;
    let produced = 0;
    let lastId = "";
    // Creates and removes configured containers: cheap, and two events each.
    const producer = (async () => {
      while (!stop) {
        const c = await create(api(), s.rootfs, ["true"]);
        await api().removeContainer({ id: c.id });
        lastId = c.id;
        produced++;
      }
    })();
    try {
      await waitUntil(() => produced >= 5);
      const stream = open({ since: new Date(0) });
      await stream.waitFor("a first event", () => true);
      // Keep producing well past the moment the stream opened and switched to live.
      const target = produced + 25;
      await waitUntil(() => produced >= target);
      stop = true;
      await producer;
      await stream.waitFor("the producer's last remove", (e) => e.containerId === lastId && e.type === "remove");
      const seqs = stream.events.map((e) => e.sequence);
      const last = seqs.at(-1) ?? 0;
      assert.deepEqual(
        seqs,
        Array.from({ length: last }, (_, i) => i + 1),
        `every event once, in order: ${describeEvents(stream.events)}`,
      );
      stream.call.cancel();
    } finally {
      stop = true;
      await producer;
    }
  });

  it("an until in the past replays and ends the stream", async () => {
    const c = await create(api(), s.rootfs, ["true"]);
    s.made.push(c.id);
    const stream = open({ until: new Date(), containers: [c.id] });
    const end = await stream.ended;
    assert.equal(end.error, undefined, end.error?.message);
    assert.deepEqual(
      stream.events.map((e) => e.type),
      ["create"],
    );
  });

  it("refuses an unknown type (INVALID_ARGUMENT) and an unknown container (NOT_FOUND)", async () => {
    const bad = (await open({ types: ["start", "reboot"] }).ended).error;
    assert.ok(bad);
    const info = errorInfo(bad);
    assert.equal(info.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(info.reason, "INVALID_ARGUMENT");
    assert.match(info.message, /types\[1\].*reboot/);
    const missing = (await open({ containers: ["no-such-container"] }).ended).error;
    assert.ok(missing);
    assert.equal(errorInfo(missing).code, grpc.status.NOT_FOUND);
    assert.equal(errorInfo(missing).reason, "CONTAINER_NOT_FOUND");
  });

  it("hull events --until <now> prints the past events, filtered, as lines or JSON", async () => {
    const c = await create(api(), s.rootfs, ["sh", "-c", "exit 7"]);
    s.made.push(c.id);
    await api().startContainer({ id: c.id });
    await waitExited(api(), c.id);
    const now = new Date().toISOString();
    const all = await hull(s.d.socket, "events", "--since", "1h", "--until", now);
    assert.equal(all.code, 0, all.stderr);
    const short = c.id.slice(0, 12);
    const mine = all.stdout.split("\n").filter((l) => l.includes(` ${short} `));
    assert.equal(mine.length, 5, all.stdout);
    assert.match(mine[0] ?? "", new RegExp(`^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}(\\.\\d+)? \\+0000 UTC container create ${short} \\(name=${c.name}\\)$`));
    const exits = await hull(s.d.socket, "events", "--until", now, "--filter", `container=${c.name}`, "--filter", "type=exit");
    assert.equal(exits.code, 0, exits.stderr);
    assert.match(exits.stdout, new RegExp(`^\\S+ \\S+ \\+0000 UTC container exit ${short} \\(name=${c.name}, exitCode=7\\)\\n$`));
    const json = await hull(s.d.socket, "events", "--until", now, "--filter", `container=${c.id}`, "--format", "json");
    assert.equal(json.code, 0, json.stderr);
    const parsed = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; containerId: string });
    assert.deepEqual(
      parsed.map((e) => e.type),
      ["create", "init", "start", "exit", "cleanup"],
    );
    assert.ok(parsed.every((e) => e.containerId === c.id));
    const badTime = await hull(s.d.socket, "events", "--since", "yesterday");
    assert.equal(badTime.code, 125);
    assert.match(badTime.stderr, /--since: "yesterday" is not a time/);
    const badType = await hull(s.d.socket, "events", "--until", now, "--filter", "type=explode");
    assert.equal(badType.code, 125);
    assert.match(badType.stderr, /explode/);
  });

  it("hull events follows live events until interrupted, then exits 0", async () => {
    // --since makes it race-free: events from before the stream opened are replayed.
    const child = spawn(process.execPath, [HULL, "--socket", s.d.socket, "events", "--since", new Date().toISOString()], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const exited = once(child, "exit");
    try {
      const c = await create(api(), s.rootfs, ["true"]);
      s.made.push(c.id);
      await api().startContainer({ id: c.id });
      const line = new RegExp(`container cleanup ${c.id.slice(0, 12)} \\(name=${c.name}\\)`);
      await waitUntil(() => line.test(out) || child.exitCode !== null);
      assert.match(out, line, err);
      child.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, err);
      const lines = out
        .trim()
        .split("\n")
        .filter((l) => l.includes(c.id.slice(0, 12)));
      assert.deepEqual(
        lines.map((l) => l.split(" ")[5]),
        ["create", "init", "start", "exit", "cleanup"],
      );
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

/** Polls state the test itself advances or reads; bounded so a stuck producer fails the test. */
async function waitUntil(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
