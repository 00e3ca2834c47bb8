// The daemon's persistent state: container records, the name index and a
// bounded event history, in one LevelDB under the state root. LevelDB's LOCK
// file doubles as the guard against two hulld processes sharing a root.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Level, type BatchOperation } from "level";
import { Mutex } from "async-mutex";
import type { Event } from "../gen/hull/v1/container.js";
import { HullError, containerNotFound, invalidArgument } from "../errors.js";
import { FULL_ID, checkContainerRef } from "../domain/container-ref.js";
import type { ContainerRecord, OperationIntent, PodRecord } from "./record.js";
import {
  CTR_PREFIX,
  EVENT_SEQ_KEY,
  EVT_PREFIX,
  ctrKey,
  depKey,
  DEP_PREFIX,
  IMG_PREFIX,
  POD_PREFIX,
  decodeEvent,
  decodeIntent,
  decodeRecord,
  encodeEvent,
  encodeRecord,
  evtKey,
  INTENT_PREFIX,
  intentKey,
  nameKey,
  prefixRange,
} from "./codec.js";
import { describe, isLockHeld, traced, wrap } from "./util.js";
import { RecordCaches, creationOrder } from "./record-cache.js";
import { checkSchema, decodeStored, eventBounds, type Db } from "./schema.js";

export interface StateStoreOptions {
  /** How many events the history keeps; the oldest go first. Default 10,000. */
  maxEvents?: number;
}

export interface ReadEventsOptions {
  since?: Date;
  until?: Date;
}

type Op = BatchOperation<Db, string, unknown>;

const DEFAULT_MAX_EVENTS = 10_000;
const LEVELDB_CACHE_BYTES = 1 << 20;
const LEVELDB_WRITE_BUFFER_BYTES = 1 << 20;
export interface SaveOptions {
  /** An intent to store with the record in one batch; null deletes the container's intent in the same batch. */
  intent?: OperationIntent | null;
}

const short = (id: string): string => id.slice(0, 12);

export class StateStore {
  // Container writes are read-check-write sequences (name taken? record
  // still there?); one mutex makes them race-free within this process, and
  // the LevelDB lock keeps other processes out.
  private readonly writes = new Mutex();
  // Separate so event appends never queue behind container writes.
  private readonly eventLock = new Mutex();
  private closed = false;
  /** Values derived from records (their wire encoding); dropped here on every create, save and delete. */
  readonly derived = new RecordCaches();
  /** listContainers' order, kept until a container is created or deleted: sorting 10k per List was a third of its time. */
  private order: string[] | undefined;

  private constructor(
    private readonly db: Db,
    /** The state root this store was opened in. */
    readonly root: string,
    private readonly maxEvents: number,
    private lastSeq: number,
    private firstSeq: number,
    /**
     * Every container record, decoded. This process is the database's only
     * writer (LevelDB's lock), so a write-through mirror is exact, and List
     * and every sync read memory instead of decoding JSON again.
     */
    private readonly records: Map<string, ContainerRecord>,
    /** Every stored operation intent, by container id: a mirror like records. */
    private readonly intents: Map<string, OperationIntent>,
  ) {}

  static async open(root: string, opts: StateStoreOptions = {}): Promise<StateStore> {
    return traced("store.open", undefined, async () => {
      const maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
      if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
        throw invalidArgument("maxEvents", `must be a positive integer, got ${maxEvents}`);
      }
      const path = join(root, "state.db");
      try {
        await mkdir(root, { recursive: true });
      } catch (err) {
        throw wrap(err, `creating state root ${root}`);
      }
      // LevelDB's defaults (an 8 MiB block cache, a 4 MiB memtable) fill as containers come and go and
      // are never given back: the in-memory mirror of records serves every record read, so 1 MiB of each keeps
      // hulld's footprint flat (bench/rss.ts) at the cost of earlier memtable flushes, done off the main thread.
      const db: Db = new Level<string, unknown>(path, {
        keyEncoding: "utf8",
        valueEncoding: "json",
        cacheSize: LEVELDB_CACHE_BYTES,
        writeBufferSize: LEVELDB_WRITE_BUFFER_BYTES,
      });
      try {
        await db.open();
      } catch (err) {
        if (isLockHeld(err)) {
          throw new HullError("UNAVAILABLE", `state root ${root} is in use by another hulld (LevelDB lock held)`, {}, { cause: err });
        }
        throw wrap(err, `opening state database ${path}`);
      }
      try {
        await checkSchema(db, path);
        const { first, last } = await eventBounds(db);
        const entries = await db.iterator(prefixRange(CTR_PREFIX)).all();
        const records = new Map(entries.map(([key, value]) => [key.slice(CTR_PREFIX.length), decodeStored(key, value, decodeRecord)] as const));
        const intentEntries = await db.iterator(prefixRange(INTENT_PREFIX)).all();
        const intents = new Map(intentEntries.map(([key, value]) => [key.slice(INTENT_PREFIX.length), decodeStored(key, value, decodeIntent)] as const));
        return new StateStore(db, root, maxEvents, last, first, records, intents);
      } catch (err) {
        // Release the LOCK, or this process could never reopen the root.
        const primary = wrap(err, `opening state database ${path}`);
        try {
          await db.close();
        } catch (closeErr) {
          throw new HullError(primary.reason, `${primary.message}; closing it again also failed: ${describe(closeErr)}`, primary.metadata, { cause: primary });
        }
        throw primary;
      }
    });
  }

  async close(): Promise<void> {
    return traced("store.close", undefined, async () => {
      if (this.closed) return;
      this.closed = true;
      // Writes already queued on the mutexes run before the close (FIFO).
      try {
        await this.writes.runExclusive(() => this.eventLock.runExclusive(() => this.db.close()));
      } catch (err) {
        throw wrap(err, `closing the state database in ${this.root}`);
      }
    });
  }

  createContainer(rec: ContainerRecord): Promise<void> {
    return this.run("createContainer", rec.id, "creating", () =>
      this.writes.runExclusive(async () => {
        // Requests were checked by src/validation/; this keeps the key space whole whatever the caller.
        checkContainerRef("id", rec.id);
        checkContainerRef("name", rec.name);
        const holder = await this.db.get(nameKey(rec.name));
        if (holder !== undefined) {
          throw new HullError("NAME_IN_USE", `the container name "${rec.name}" is already in use by ${short(String(holder))}`, { name: rec.name });
        }
        if ((await this.db.get(ctrKey(rec.id))) !== undefined) {
          throw new HullError("INTERNAL", `container id ${rec.id} already exists in the state store`, { container: rec.id });
        }
        await this.db.batch([
          { type: "put", key: ctrKey(rec.id), value: encodeRecord(rec) },
          { type: "put", key: nameKey(rec.name), value: rec.id },
          ...rec.dependencyIds.map((dep): Op => ({ type: "put", key: depKey(dep, rec.id), value: "" })),
        ]);
        this.records.set(rec.id, rec);
        this.derived.changed(rec.id);
        this.order = undefined;
      }),
    );
  }

  getContainer(id: string): Promise<ContainerRecord | undefined> {
    return this.run("getContainer", id, "reading", () => this.read(id));
  }

  /**
   * Stores rec with the next revision; the container must still exist.
   * With opts.intent the container's operation intent is written or deleted
   * in the same LevelDB batch.
   */
  saveContainer(rec: ContainerRecord, opts: SaveOptions = {}): Promise<ContainerRecord> {
    return this.run("saveContainer", rec.id, "saving", () =>
      this.writes.runExclusive(async () => {
        const stored = await this.read(rec.id);
        // Without this check a save racing a delete would resurrect the
        // record with no name index entry.
        if (!stored) throw new HullError("CONTAINER_NOT_FOUND", `container ${short(rec.id)} was removed`, { container: rec.id });
        if (stored.name !== rec.name) {
          throw new HullError("INTERNAL", `container ${short(rec.id)} cannot be renamed from "${stored.name}" to "${rec.name}"`, { container: rec.id });
        }
        // Counting from the stored revision keeps it monotonic even if the
        // caller saved from a stale copy.
        const saved: ContainerRecord = { ...rec, revision: stored.revision + 1 };
        const ops: Op[] = [{ type: "put", key: ctrKey(rec.id), value: encodeRecord(saved) }];
        if (opts.intent) ops.push({ type: "put", key: intentKey(rec.id), value: opts.intent });
        // Deleting an intent that is not there is a no-op: skip the write.
        else if (opts.intent === null && this.intents.has(rec.id)) ops.push({ type: "del", key: intentKey(rec.id) });
        if (ops.length === 1) await this.db.put(ctrKey(rec.id), encodeRecord(saved));
        else await this.db.batch(ops);
        this.records.set(rec.id, saved);
        this.derived.changed(rec.id);
        if (saved.createdAt !== stored.createdAt) this.order = undefined;
        if (opts.intent) this.intents.set(rec.id, opts.intent);
        else if (opts.intent === null) this.intents.delete(rec.id);
        return saved;
      }),
    );
  }

  /** Removes the record and its name; a container already gone is not an error. */
  deleteContainer(id: string): Promise<void> {
    return this.run("deleteContainer", id, "deleting", () =>
      this.writes.runExclusive(async () => {
        const stored = await this.read(id);
        if (!stored) return;
        const ops: Op[] = [{ type: "del", key: ctrKey(id) }, ...stored.dependencyIds.map((dep): Op => ({ type: "del", key: depKey(dep, id) }))];
        if ((await this.db.get(nameKey(stored.name))) === id) ops.push({ type: "del", key: nameKey(stored.name) });
        if (this.intents.has(id)) ops.push({ type: "del", key: intentKey(id) });
        await this.db.batch(ops);
        this.records.delete(id);
        this.derived.changed(id);
        this.order = undefined;
        this.intents.delete(id);
      }),
    );
  }

  /**
   * Writes (intent) or deletes (null) the container's operation intent on
   * its own, for an operation whose first step is not a record save (init).
   * Writing needs the container to exist; deleting does not (a stray intent).
   */
  setIntent(id: string, intent: OperationIntent | null): Promise<void> {
    return this.run("setIntent", id, "recording the operation intent of", () =>
      this.writes.runExclusive(async () => {
        if (intent) {
          if (!this.records.has(id)) throw new HullError("CONTAINER_NOT_FOUND", `container ${short(id)} was removed`, { container: id });
          await this.db.put(intentKey(id), intent);
          this.intents.set(id, intent);
        } else if (this.intents.has(id)) {
          await this.db.del(intentKey(id));
          this.intents.delete(id);
        }
      }),
    );
  }

  /** The container's operation intent, if one is stored. */
  getIntent(id: string): OperationIntent | undefined {
    return this.intents.get(id);
  }

  /** Every stored operation intent by container id (a copy). */
  listIntents(): Map<string, OperationIntent> {
    return new Map(this.intents);
  }

  /** Full id, then exact name, then unique id prefix (as docker and podman do). */
  resolveContainer(ref: string): Promise<string> {
    return traced("store.resolveContainer", undefined, async (span) => {
      span.setAttribute("hull.container.ref", ref);
      const id = await this.guarded(`resolving container "${ref}"`, undefined, async () => {
        checkContainerRef("id", ref);
        if (FULL_ID.test(ref) && (await this.db.get(ctrKey(ref))) !== undefined) return ref;
        const named = await this.db.get(nameKey(ref));
        if (typeof named === "string") return named;
        // Two keys are enough to tell unique from ambiguous: no full scan.
        const keys = await this.db.keys({ ...prefixRange(ctrKey(ref)), limit: 2 }).all();
        const ids = keys.map((k) => k.slice(CTR_PREFIX.length));
        if (ids.length === 0) throw containerNotFound(ref);
        if (ids.length > 1) {
          throw new HullError("AMBIGUOUS_ID", `prefix "${ref}" matches several containers: ${ids.map(short).join(", ")}`, {
            candidates: ids.join(","),
          });
        }
        return ids[0];
      });
      span.setAttribute("hull.container.id", id);
      return id;
    });
  }

  /** Every record, oldest first. */
  listContainers(): Promise<ContainerRecord[]> {
    return this.run("listContainers", undefined, "listing containers", async () => {
      this.order ??= creationOrder(this.records.values());
      // A plain loop: flatMap over 10k ids took 5 ms of a 7 ms List.
      const out: ContainerRecord[] = [];
      for (const id of this.order) {
        const rec = this.records.get(id);
        if (rec !== undefined) out.push(rec);
      }
      return out;
    });
  }

  /** Ids of the containers that list `id` among their dependencies. */
  findDependents(id: string): Promise<string[]> {
    return this.run("findDependents", id, "finding dependents of", async () => {
      const prefix = `${DEP_PREFIX}${id}/`;
      const keys = await this.db.keys(prefixRange(prefix)).all();
      return keys.map((k) => k.slice(prefix.length)).filter((dependent) => dependent !== id);
    });
  }

  /** Stores ev with the next sequence number (and now, if it has no time). */
  appendEvent(ev: Event): Promise<Event> {
    return this.run("appendEvent", ev.containerId || undefined, "recording an event for", () =>
      this.eventLock.runExclusive(async () => {
        const seq = this.lastSeq + 1;
        const stored: Event = { ...ev, attributes: { ...ev.attributes }, time: ev.time ?? new Date(), sequence: seq };
        const ops: Op[] = [
          { type: "put", key: evtKey(seq), value: encodeEvent(stored) },
          { type: "put", key: EVENT_SEQ_KEY, value: seq },
        ];
        // A loop, not one delete, so a smaller maxEvents after a restart
        // trims the whole excess at once.
        const keepFrom = seq - this.maxEvents + 1;
        for (let s = this.firstSeq; s < keepFrom; s++) ops.push({ type: "del", key: evtKey(s) });
        await this.db.batch(ops);
        this.lastSeq = seq;
        this.firstSeq = Math.max(this.firstSeq, keepFrom);
        return stored;
      }),
    );
  }

  /** Stored events with since <= time <= until, in sequence order. */
  readEvents(opts: ReadEventsOptions = {}): Promise<Event[]> {
    return this.run("readEvents", undefined, "reading events", async () => {
      const since = opts.since?.getTime() ?? -Infinity;
      const until = opts.until?.getTime() ?? Infinity;
      if (Number.isNaN(since)) throw invalidArgument("since", "not a valid time");
      if (Number.isNaN(until)) throw invalidArgument("until", "not a valid time");
      const out: Event[] = [];
      for await (const [key, value] of this.db.iterator(prefixRange(EVT_PREFIX))) {
        const ev = decodeStored(key, value, decodeEvent);
        const t = ev.time?.getTime() ?? 0;
        if (t >= since && t <= until) out.push(ev);
      }
      return out;
    });
  }

  /** Every stored image record (key prefix img/), as the image store wrote them. */
  listImageRecords(): Promise<unknown[]> {
    return this.run("listImageRecords", undefined, "listing images", () => this.listUnder(IMG_PREFIX));
  }

  /** Writes and deletes image records (keyed by image id) in one batch. */
  writeImageRecords(puts: { id: string; value: unknown }[], deletes: string[]): Promise<void> {
    return this.run("writeImageRecords", undefined, "saving images", () => this.writeUnder(IMG_PREFIX, puts, deletes));
  }

  /** Every stored pod sandbox record (key prefix pod/). */
  listPodRecords(): Promise<PodRecord[]> {
    return this.run("listPodRecords", undefined, "listing pods", async () => (await this.listUnder(POD_PREFIX)) as PodRecord[]);
  }

  /** Saves (or, with remove, deletes) one pod sandbox record. */
  writePodRecord(pod: PodRecord, remove = false): Promise<void> {
    return this.run("writePodRecord", pod.id, remove ? "removing pod" : "saving pod", () =>
      this.writeUnder(POD_PREFIX, remove ? [] : [{ id: pod.id, value: pod }], remove ? [pod.id] : []),
    );
  }

  private async listUnder(prefix: string): Promise<unknown[]> {
    const entries = await this.db.iterator(prefixRange(prefix)).all();
    return entries.map(([, value]) => value);
  }

  private writeUnder(prefix: string, puts: { id: string; value: unknown }[], deletes: string[]): Promise<void> {
    return this.writes.runExclusive(async () => {
      await this.db.batch([
        ...puts.map((p): Op => ({ type: "put", key: prefix + p.id, value: p.value })),
        ...deletes.map((id): Op => ({ type: "del", key: prefix + id })),
      ]);
    });
  }

  // Span + closed check + error context for every public method.
  private run<T>(method: string, id: string | undefined, doing: string, fn: () => Promise<T>): Promise<T> {
    return traced(`store.${method}`, id, () => this.guarded(doing, id, fn));
  }

  private async guarded<T>(doing: string, id: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HullError("UNAVAILABLE", `the state store in ${this.root} is closed`);
    try {
      return await fn();
    } catch (err) {
      throw wrap(err, doing, id);
    }
  }

  private async read(id: string): Promise<ContainerRecord | undefined> {
    return this.records.get(id);
  }
}
