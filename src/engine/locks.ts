// One async mutex per container id. Entries are reference counted and
// dropped when nobody holds or waits for them, so thousands of containers
// never leak locks (podman's "exceeded num_locks").
import { Mutex } from "async-mutex";
import { inSpan } from "../tracing.js";

interface Entry {
  mutex: Mutex;
  users: number;
}

export class LockTable {
  private readonly entries = new Map<string, Entry>();

  /** Runs fn holding the lock of `id`; the lock is released on every path. */
  async with<T>(id: string, fn: () => Promise<T>): Promise<T> {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.entries.set(id, entry);
    }
    entry.users++;
    const held = entry;
    try {
      const release = await inSpan("lock.wait", { "hull.container.id": id }, () => held.mutex.acquire());
      try {
        return await fn();
      } finally {
        release();
      }
    } finally {
      held.users--;
      if (held.users === 0) this.entries.delete(id);
    }
  }

  /** How many containers currently have a lock entry (for leak checks). */
  get size(): number {
    return this.entries.size;
  }
}
