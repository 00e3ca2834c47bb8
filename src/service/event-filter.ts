// What one Events call asks for, validated: the containers (resolved to ids
// once, so a container removed mid-stream keeps matching its own events), the
// event types and the time window.
import type { Event, EventsRequest } from "../gen/hull/v1/container.js";
import { HullError, invalidArgument } from "../errors.js";
import type { StateStore } from "../store/store.js";

/** Every event type hulld emits: the list in the proto comment on Event.type. */
export const EVENT_TYPES: readonly string[] = [
  "create",
  "init",
  "start",
  "attach",
  "stop",
  "kill",
  "pause",
  "unpause",
  "mount",
  "unmount",
  "exit",
  "restart",
  "cleanup",
  "remove",
  "exec_start",
  "exec_exit",
  "sync",
  "state",
];

const KNOWN_TYPES = new Set(EVENT_TYPES);
const FULL_ID = /^[0-9a-f]{64}$/;

export interface EventFilter {
  /** Empty = every container. */
  containerIds: ReadonlySet<string>;
  /** Empty = every type. */
  types: ReadonlySet<string>;
  since?: Date;
  until?: Date;
}

/** Type and container match; the time window is checked separately (inWindow). */
export function matchesFilter(f: EventFilter, ev: Event): boolean {
  if (f.containerIds.size > 0 && !f.containerIds.has(ev.containerId)) return false;
  return f.types.size === 0 || f.types.has(ev.type);
}

export function inWindow(f: EventFilter, ev: Event): boolean {
  const t = ev.time?.getTime() ?? 0;
  if (f.since && t < f.since.getTime()) return false;
  return !(f.until && t > f.until.getTime());
}

export function checkTypes(types: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const [i, type] of types.entries()) {
    if (!KNOWN_TYPES.has(type)) {
      throw invalidArgument(`types[${i}]`, `"${type}" is not an event type (known: ${EVENT_TYPES.join(", ")})`);
    }
    out.add(type);
  }
  return out;
}

function checkTime(field: string, t: Date | undefined): Date | undefined {
  if (t === undefined) return undefined;
  if (Number.isNaN(t.getTime())) throw invalidArgument(field, "not a valid time");
  return t;
}

type Resolver = Pick<StateStore, "resolveContainer" | "readEvents">;

/**
 * Resolves one container reference. A full id that is no longer in the store
 * but still has stored events is accepted, so the history of a removed
 * container can be replayed; anything else unknown is NOT_FOUND.
 */
async function resolveRef(store: Resolver, ref: string, field: string): Promise<string> {
  if (ref === "") throw invalidArgument(field, "a container id or name is required");
  try {
    return await store.resolveContainer(ref);
  } catch (err) {
    if (!(err instanceof HullError)) throw err;
    if (err.reason === "INVALID_ARGUMENT") throw invalidArgument(field, err.message.replace(/^invalid id: /, ""));
    if (err.reason === "CONTAINER_NOT_FOUND" && FULL_ID.test(ref)) {
      const history = await store.readEvents();
      if (history.some((ev) => ev.containerId === ref)) return ref;
    }
    throw err;
  }
}

export async function buildEventFilter(store: Resolver, req: EventsRequest): Promise<EventFilter> {
  const types = checkTypes(req.types);
  const since = checkTime("since", req.since);
  const until = checkTime("until", req.until);
  if (since && until && until.getTime() < since.getTime()) {
    throw invalidArgument("until", `${until.toISOString()} is before since (${since.toISOString()})`);
  }
  const containerIds = new Set<string>();
  for (const [i, ref] of req.containers.entries()) containerIds.add(await resolveRef(store, ref, `containers[${i}]`));
  return { containerIds, types, since, until };
}
