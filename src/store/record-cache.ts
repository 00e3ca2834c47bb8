// Values derived from container records and kept until the record changes:
// the wire encoding of each Container, so ListContainers of 10,000 copies
// bytes instead of encoding 10,000 messages per call (issue 12; podman
// #23210 is the same load on ps). The store drops a container's entries
// whenever it creates, saves or deletes that record; on top of that an entry
// is used only for the very record object it was derived from, because the
// store replaces its mirror's object on every save (records are values, never
// changed in place), so a path that bypassed the drop still cannot see stale
// bytes.
import type { ContainerRecord } from "./record.js";

export class RecordCache<T> {
  private readonly entries = new Map<string, { rec: ContainerRecord; value: T }>();

  constructor(private readonly derive: (rec: ContainerRecord) => T) {}

  /** derive(rec), computed once per stored version of the record. */
  get(rec: ContainerRecord): T {
    const hit = this.entries.get(rec.id);
    if (hit !== undefined && hit.rec === rec) return hit.value;
    const value = this.derive(rec);
    this.entries.set(rec.id, { rec, value });
    return value;
  }

  drop(id: string): void {
    this.entries.delete(id);
  }

  /** How many records have a value kept (for tests and memory accounting). */
  get size(): number {
    return this.entries.size;
  }
}

/** Every RecordCache made over one store, so the store can drop a record from all of them at once. */
export class RecordCaches {
  private readonly caches: RecordCache<unknown>[] = [];

  /** A cache the store keeps current: entries go when their record is created, saved or deleted. */
  create<T>(derive: (rec: ContainerRecord) => T): RecordCache<T> {
    const cache = new RecordCache(derive);
    this.caches.push(cache);
    return cache;
  }

  /** The record of `id` changed or went away. */
  changed(id: string): void {
    for (const cache of this.caches) cache.drop(id);
  }
}

/** Ids oldest first: by creation time, then id (ISO-8601 times sort as strings). */
export function creationOrder(records: Iterable<ContainerRecord>): string[] {
  const recs = [...records].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  return recs.map((r) => r.id);
}
