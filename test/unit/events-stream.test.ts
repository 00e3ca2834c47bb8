// The Events handler in-process, on a real StateStore and StateBus behind a
// real gRPC server: the replay/live seam at its exact race points, slow
// clients (bounded backlog, RESOURCE_EXHAUSTED), `until`, and no listener
// left behind by any way a stream ends.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { ContainerServiceClient, ContainerServiceService, ContainerState, Event } from "../../src/gen/hull/v1/container.js";
import { StateStore, type ReadEventsOptions } from "../../src/store/store.js";
import { StateBus } from "../../src/engine/bus.js";
import { RpcWrapper } from "../../src/service/rpc.js";
import { eventsHandlers } from "../../src/service/events-handler.js";
import type { EventSource } from "../../src/service/event-stream.js";
import { collectEvents as openStream, describeEvents, type EventCollector } from "../helpers/event-stream.js";
import { until } from "../helpers/fixtures.js";

const MAX_BACKLOG = 200;
const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);

describe("events stream (in-process)", () => {
  let dir: string;
  let store: StateStore;
  const bus = new StateBus();
  let server: grpc.Server;
  let client: ContainerServiceClient;
  // Runs inside readEvents, before and after the real read: the seam's race points.
  let aroundRead: { before?: () => Promise<void>; after?: () => Promise<void> } = {};

  async function emit(type: string, id = ID_A, time?: Date): Promise<Event> {
    const stored = await store.appendEvent(
      Event.fromPartial({ type, containerId: id, containerName: `n-${id[0]}`, time, state: ContainerState.CONTAINER_STATE_RUNNING }),
    );
    bus.publishEvent(stored);
    return stored;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hull-ev-"));
    store = await StateStore.open(join(dir, "store"));
    const source: EventSource = {
      bus,
      store: {
        resolveContainer: (ref) => store.resolveContainer(ref),
        readEvents: async (opts?: ReadEventsOptions) => {
          await aroundRead.before?.();
          const history = await store.readEvents(opts);
          await aroundRead.after?.();
          return history;
        },
      },
    };
    server = new grpc.Server();
    const rpc = new RpcWrapper("hull.v1.ContainerService", pino({ level: "silent" }));
    server.addService(ContainerServiceService, eventsHandlers(source, rpc, { maxBacklog: MAX_BACKLOG }));
    const socket = join(dir, "s.sock");
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    client = new ContainerServiceClient(`unix:${socket}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  // Every stream a test opens, so a failed test cannot leave one behind for the next.
  const open: EventCollector[] = [];
  const collectEvents = (...args: Parameters<typeof openStream>): EventCollector => {
    const c = openStream(...args);
    open.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of open.splice(0)) if (!c.isEnded()) c.call.cancel();
    aroundRead = {};
    await noListeners();
  });

  const noListeners = (): Promise<true> => until("no event listener left", async () => (bus.eventListenerCount() === 0 ? true : undefined));

  async function cancelAndCheck(c: EventCollector): Promise<void> {
    c.call.cancel();
    const end = await c.ended;
    assert.equal(end.error?.code, grpc.status.CANCELLED);
    await noListeners();
  }

  it("replays history then goes live with nothing lost or doubled at the seam", async () => {
    for (let i = 0; i < 5; i++) await emit(`create`);
    let deferred: Event | undefined;
    aroundRead = {
      // Stored and published before the read: in the history AND in the live queue.
      before: async () => {
        await emit("start");
        // Stored before the read, published after it: the late double.
        deferred = await store.appendEvent(Event.fromPartial({ type: "pause", containerId: ID_A, containerName: "n-a" }));
      },
      // Stored after the read: only the live queue has it.
      after: async () => {
        await emit("unpause");
        bus.publishEvent(deferred as Event);
      },
    };
    const c = collectEvents(client, { since: new Date(0) });
    try {
      await c.waitFor("the event stored after the read", (e) => e.type === "unpause");
      aroundRead = {};
      const live = await emit("stop");
      await c.waitFor("a live event", (e) => e.sequence === live.sequence);
      const seqs = c.events.map((e) => e.sequence);
      const expected = Array.from({ length: live.sequence }, (_, i) => i + 1);
      assert.deepEqual(seqs, expected, `every stored event once, in order: ${describeEvents(c.events)}`);
      assert.deepEqual(
        c.events.slice(5).map((e) => e.type),
        ["start", "pause", "unpause", "stop"],
      );
      assert.ok(bus.eventListenerCount() >= 1);
    } finally {
      aroundRead = {};
    }
    await cancelAndCheck(c);
  });

  it("without since sends only live events, filtered by type and by a removed container's id", async () => {
    const old = await emit("kill", ID_B);
    // ID_B is in no store record, only in the history: accepted by full id.
    const c = collectEvents(client, { types: ["kill", "exit"], containers: [ID_B] });
    await until("the subscription", async () => (bus.eventListenerCount() === 1 ? true : undefined));
    await emit("kill", ID_A);
    await emit("start", ID_B);
    const exit = await emit("exit", ID_B);
    await c.waitFor("the exit of B", (e) => e.sequence === exit.sequence);
    assert.deepEqual(
      c.events.map((e) => [e.type, e.containerId]),
      [["exit", ID_B]],
      describeEvents(c.events),
    );
    assert.ok(!c.events.some((e) => e.sequence === old.sequence), "no replay without since");
    await cancelAndCheck(c);
  });

  it("an until in the past replays and ends without subscribing", async () => {
    const last = await emit("cleanup");
    // Now, not later: the daemon sees it as past (or equal), so this is a replay.
    const c = collectEvents(client, { until: new Date() });
    const end = await c.ended;
    assert.equal(end.error, undefined, end.error?.message);
    assert.ok(c.events.some((e) => e.sequence === last.sequence));
    const seqs = c.events.map((e) => e.sequence);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
      "the whole history, in order",
    );
    await noListeners();
  });

  it("a future until ends the stream once an event past it arrives, without sending that event", async () => {
    const untilTime = new Date(Date.now() + 3_600_000);
    const c = collectEvents(client, { until: untilTime });
    await until("the subscription", async () => (bus.eventListenerCount() === 1 ? true : undefined));
    const inside = await emit("start");
    await emit("stop", ID_A, new Date(untilTime.getTime() + 1000));
    const end = await c.ended;
    assert.equal(end.error, undefined, end.error?.message);
    assert.deepEqual(
      c.events.map((e) => e.sequence),
      [inside.sequence],
    );
    await noListeners();
  });

  it("a client that keeps up gets every event even past the backlog bound", async () => {
    const c = collectEvents(client, {});
    await until("the subscription", async () => (bus.eventListenerCount() === 1 ? true : undefined));
    const first = (await store.readEvents()).at(-1)?.sequence ?? 0;
    const total = MAX_BACKLOG * 5;
    // Lockstep batches under the bound: only the client's speed is measured, not the scheduler's.
    for (let sent = 0; sent < total;) {
      let last: Event | undefined;
      for (let i = 0; i < MAX_BACKLOG / 2; i++, sent++) last = await emit("sync");
      const want = (last as Event).sequence;
      await c.waitFor(`event ${want}`, (e) => e.sequence === want);
    }
    assert.deepEqual(
      c.events.map((e) => e.sequence),
      Array.from({ length: total }, (_, i) => first + 1 + i),
    );
    await cancelAndCheck(c);
  });

  it("a client that stops reading is cut off with RESOURCE_EXHAUSTED, and its listener is gone", async () => {
    const c = collectEvents(client, {});
    c.call.pause();
    await until("the subscription", async () => (bus.eventListenerCount() === 1 ? true : undefined));
    const big = "x".repeat(4096);
    let published = 0;
    // Bounded: the stream must give up long before this many.
    while (bus.eventListenerCount() > 0 && published < 50_000) {
      const stored = await store.appendEvent(Event.fromPartial({ type: "sync", containerId: ID_A, containerName: "n-a", attributes: { big } }));
      bus.publishEvent(stored);
      published++;
    }
    assert.equal(bus.eventListenerCount(), 0, `still subscribed after ${published} events`);
    c.call.resume();
    const end = await c.ended;
    assert.equal(end.error?.code, grpc.status.RESOURCE_EXHAUSTED, `ended with ${end.error?.message ?? "OK"}`);
    assert.match(end.error?.details ?? "", /fell more than 200 events behind/);
    assert.ok(c.events.length < published, `got ${c.events.length} of ${published}`);
    // What it did get is a gapless run: the cut is at the end, never in the middle.
    const seqs = c.events.map((e) => e.sequence);
    seqs.forEach((s, i) => assert.equal(s, (seqs[0] ?? 0) + i));
  });

  it("refuses unknown types and containers, and until before since", async () => {
    const bad = collectEvents(client, { types: ["start", "explode"] });
    const e1 = (await bad.ended).error;
    assert.equal(e1?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e1?.details ?? "", /types\[1\].*"explode"/);
    const missing = (await collectEvents(client, { containers: ["nope"] }).ended).error;
    assert.equal(missing?.code, grpc.status.NOT_FOUND);
    const unknownId = (await collectEvents(client, { containers: ["c".repeat(64)] }).ended).error;
    assert.equal(unknownId?.code, grpc.status.NOT_FOUND);
    const badRef = (await collectEvents(client, { containers: ["a/b"] }).ended).error;
    assert.equal(badRef?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(badRef?.details ?? "", /containers\[0\]/);
    const order = (await collectEvents(client, { since: new Date(2000), until: new Date(1000) }).ended).error;
    assert.equal(order?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(order?.details ?? "", /until/);
    await noListeners();
  });
});
