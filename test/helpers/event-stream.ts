// Reads an Events stream in a test: everything received, waiting for a
// condition on it (never a sleep), and how the stream ended.
import type * as grpc from "@grpc/grpc-js";
import { type ContainerServiceClient, type DeepPartial, type Event, EventsRequest, type EventsResponse } from "../../src/gen/hull/v1/container.js";

/** How long a test waits for an expected event before failing. */
export const EVENT_WAIT_MS = 30_000;

export interface StreamEnd {
  /** undefined when the stream ended with OK. */
  error?: grpc.ServiceError;
}

export interface EventCollector {
  call: grpc.ClientReadableStream<EventsResponse>;
  events: Event[];
  /** Resolves once the stream ended (OK or error); never rejects. */
  ended: Promise<StreamEnd>;
  isEnded(): boolean;
  /** The first received event matching pred, waiting for it; fails if the stream ends first or after timeoutMs. */
  waitFor(what: string, pred: (ev: Event) => boolean, timeoutMs?: number): Promise<Event>;
}

export function collectEvents(client: ContainerServiceClient, req: DeepPartial<EventsRequest>, deadlineMs = 120_000): EventCollector {
  const call = client.events(EventsRequest.fromPartial(req), { deadline: Date.now() + deadlineMs });
  const events: Event[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  const ended = new Promise<StreamEnd>((resolve) => {
    call.on("data", (res: EventsResponse) => {
      if (res.event) events.push(res.event);
      notify();
    });
    call.on("end", () => {
      done = true;
      resolve({});
      notify();
    });
    call.on("error", (error: grpc.ServiceError) => {
      done = true;
      resolve({ error });
      notify();
    });
  });
  const waitFor = (what: string, pred: (ev: Event) => boolean, timeoutMs = EVENT_WAIT_MS): Promise<Event> =>
    new Promise<Event>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}; got ${describeEvents(events)}`)), timeoutMs);
      const finish = (err?: Error, ev?: Event): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (ev) resolve(ev);
        else reject(err);
      };
      const check = (): void => {
        const found = events.find(pred);
        if (found) finish(undefined, found);
        else if (done) finish(new Error(`stream ended before ${what}; got ${describeEvents(events)}`));
      };
      waiters.add(check);
      check();
    });
  return { call, events, ended, isEnded: () => done, waitFor };
}

export function describeEvents(events: Event[]): string {
  const shown = events.slice(-30).map((e) => `${e.sequence}:${e.type}:${e.containerName}`);
  return `${events.length} events [${events.length > 30 ? "… " : ""}${shown.join(" ")}]`;
}
