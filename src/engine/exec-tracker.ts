// Exec sessions in flight, per container: each one's start and its recording
// of its end are promises here, so the exit handler can let them finish (they
// die with the container's pid namespace) before it cleans the container up,
// and so a cleanup never races a session that is starting without the lock.

/** How long the exit handler waits for live sessions to report their end before ending them itself. */
export const SETTLE_MS = 10_000;

export class ExecTracker {
  private readonly byContainer = new Map<string, Set<Promise<unknown>>>();

  /** Tracks p until it settles. */
  track(containerId: string, p: Promise<unknown>): void {
    let set = this.byContainer.get(containerId);
    if (!set) this.byContainer.set(containerId, (set = new Set()));
    const tracked = set;
    tracked.add(p);
    const untrack = (): void => {
      tracked.delete(p);
      if (tracked.size === 0 && this.byContainer.get(containerId) === tracked) this.byContainer.delete(containerId);
    };
    p.then(untrack, untrack);
  }

  /** How many are in flight for the container. */
  count(containerId: string): number {
    return this.byContainer.get(containerId)?.size ?? 0;
  }

  /** Waits (at most ms) for the container's tracked sessions to settle. */
  async settle(containerId: string, ms = SETTLE_MS): Promise<void> {
    const pending = this.byContainer.get(containerId);
    if (!pending || pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...pending]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }
}
