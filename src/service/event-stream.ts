// One Events call: stored history, then live events, with nothing lost or
// doubled at the seam, and bounded memory for a client that reads slowly.
//
// The seam: subscribe to the bus first and queue what arrives, then read the
// history. Every event stored before the read's snapshot is in the history
// (or outside the time window, which the live side checks too); every event
// stored after it has a larger sequence than any event in the history. So
// queued events with a sequence <= the last history sequence are the doubles.
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Event, EventsRequest, EventsResponse } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import type { StateBus } from "../engine/bus.js";
import type { StateStore } from "../store/store.js";
import { inWindow, matchesFilter, type EventFilter } from "./event-filter.js";

/** What the Events handler needs of the engine (the Engine itself fits). */
export interface EventSource {
  store: Pick<StateStore, "readEvents" | "resolveContainer">;
  bus: Pick<StateBus, "subscribeEvents">;
  /** Resolves the `images` filter; without it every image given is IMAGE_NOT_FOUND. */
  resolveImage?: (ref: string) => string | Promise<string>;
}

/** Live events a client may fall behind by before its stream is ended. */
export const DEFAULT_MAX_BACKLOG = 10_000;
// setTimeout's limit; a later `until` is reached in several steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A wake-up that is not lost when it comes before anybody waits. */
class Waker {
  private pending: (() => void) | undefined;
  private flagged = false;

  wake(): void {
    this.flagged = true;
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.();
  }

  wait(): Promise<void> {
    if (this.flagged) {
      this.flagged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.pending = () => {
        this.flagged = false;
        resolve();
      };
    });
  }
}

/** Calls fn at the wall-clock time `at`; returns the cancel function. */
function atTime(at: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = at - Date.now();
    if (left <= 0) return fn();
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  arm();
  return () => clearTimeout(timer);
}

type Call = ServerWritableStream<EventsRequest, EventsResponse>;

export class EventPump {
  private readonly waker = new Waker();
  private queue: Event[] = [];
  private needDrain = false;
  private untilReached = false;
  private failure: HullError | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly call: Call,
    private readonly signal: AbortSignal,
    private readonly filter: EventFilter,
    private readonly maxBacklog = DEFAULT_MAX_BACKLOG,
  ) {}

  /** Streams until the client cancels, `until` passes, or the client falls too far behind (throws). */
  async run(source: EventSource): Promise<void> {
    const onDrain = (): void => {
      this.needDrain = false;
      this.waker.wake();
    };
    const onAbort = (): void => this.waker.wake();
    this.call.on("drain", onDrain);
    this.signal.addEventListener("abort", onAbort);
    let cancelTimer: (() => void) | undefined;
    try {
      const until = this.filter.until?.getTime();
      // An `until` already past asks for history only: there is nothing live to wait for.
      const replayOnly = until !== undefined && until <= Date.now();
      if (!replayOnly) {
        this.unsubscribe = source.bus.subscribeEvents((ev) => this.onLive(ev));
        if (until !== undefined) {
          cancelTimer = atTime(until, () => {
            this.untilReached = true;
            this.waker.wake();
          });
        }
      }
      let seam = 0;
      if (this.filter.since || replayOnly) {
        const history = await source.store.readEvents({ since: this.filter.since, until: this.filter.until });
        seam = history.at(-1)?.sequence ?? 0;
        for (const ev of history) {
          if (matchesFilter(this.filter, ev) && !(await this.send(ev))) return;
        }
      }
      if (replayOnly) return;
      await this.live(seam);
    } finally {
      cancelTimer?.();
      this.stopListening();
      this.call.off("drain", onDrain);
      this.signal.removeEventListener("abort", onAbort);
    }
  }

  private async live(seam: number): Promise<void> {
    for (;;) {
      let ev: Event | undefined;
      while ((ev = this.queue.shift()) !== undefined) {
        if (ev.sequence > seam && !(await this.send(ev))) return;
      }
      if (this.failure) throw this.failure;
      // The queue is flushed first: everything in it is inside the window.
      if (this.signal.aborted || this.untilReached) return;
      await this.waker.wait();
    }
  }

  private onLive(ev: Event): void {
    if (this.failure || !matchesFilter(this.filter, ev)) return;
    if (!inWindow(this.filter, ev)) {
      if (this.filter.until && (ev.time?.getTime() ?? 0) > this.filter.until.getTime()) {
        this.untilReached = true;
        this.waker.wake();
      }
      return;
    }
    this.queue.push(ev);
    if (this.queue.length > this.maxBacklog) {
      this.failure = new HullError(
        "RESOURCE_EXHAUSTED",
        `events: the client fell more than ${this.maxBacklog} events behind; the stream is ended (read faster, or filter by container, image or type)`,
        { backlog: String(this.queue.length) },
      );
      // Free the backlog and stop growing it now, not when the writer wakes.
      this.queue = [];
      this.stopListening();
    }
    this.waker.wake();
  }

  /** Writes one event, then waits while grpc's buffer is full; false when the stream must stop. */
  private async send(ev: Event): Promise<boolean> {
    if (this.failure) throw this.failure;
    if (this.signal.aborted) return false;
    if (!this.call.write({ event: ev })) this.needDrain = true;
    while (this.needDrain) {
      if (this.failure) throw this.failure;
      if (this.signal.aborted) return false;
      await this.waker.wait();
    }
    return true;
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
