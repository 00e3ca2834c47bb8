// Teardown that need not hold up the client: the runtime delete of a
// container whose process has exited (libpod's cleanup runs it at exit, after
// the exit is recorded) and a removed container's files. Each runs after the
// record already says what the host will look like, so a hulld that dies
// before one finishes leaves nothing recovery cannot repair: an EXITED record
// with a runtime container left gets `delete-leftovers` (recovery/plan.ts),
// and the files and runtime container of a removed record are orphans that
// sweepOrphans deletes at the next start. Work on one container runs in
// order; an operation that needs the runtime container gone (init, restore)
// waits for it with settle().
import type { Logger } from "pino";

export class Teardowns {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly log: Logger) {}

  /**
   * Runs work after whatever teardown of id is already pending. It never
   * rejects: there is no caller left to tell, so a failure is logged with
   * the container and the operation, and what it left stays for the next
   * init, removal or start of hulld to delete.
   */
  defer(id: string, operation: string, work: () => Promise<void>): void {
    const prev = this.pending.get(id) ?? Promise.resolve();
    const next = prev.then(work).catch((err: unknown) => this.log.error({ err, container: id, operation }, "deferred teardown failed"));
    this.pending.set(id, next);
    void next.finally(() => {
      if (this.pending.get(id) === next) this.pending.delete(id);
    });
  }

  /** Resolves once id's pending teardown is done (at once when there is none). */
  settle(id: string): Promise<void> {
    return this.pending.get(id) ?? Promise.resolve();
  }

  /** Resolves once every teardown pending now is done. */
  async settleAll(): Promise<void> {
    await Promise.all([...this.pending.values()]);
  }
}
