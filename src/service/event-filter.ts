// What one Events call asks for, validated: the containers and images
// (resolved to ids once, so one removed mid-stream keeps matching its own
// events), the event types and the time window.
import type { Event, EventsRequest } from "../gen/hull/v1/container.js";
import { HullError, invalidArgument } from "../errors.js";
import type { StateStore } from "../store/store.js";
import { CONTAINER_EVENT_TYPES, EVENT_TYPES, IMAGE_EVENT_TYPES } from "../domain/event-types.js";

export { CONTAINER_EVENT_TYPES, EVENT_TYPES, IMAGE_EVENT_TYPES };

const KNOWN_TYPES = new Set(EVENT_TYPES);
const FULL_ID = /^[0-9a-f]{64}$/;
const FULL_IMAGE_ID = /^(?:sha256:)?([0-9a-f]{64})$/;

export interface EventFilter {
  /**
   * Containers and images to match: an event of any of them is sent. Both
   * empty = every event; only containers given = no image events, and the
   * other way round.
   */
  containerIds: ReadonlySet<string>;
  /** Image ids ("sha256:<hex>"). */
  imageIds: ReadonlySet<string>;
  /** Empty = every type. */
  types: ReadonlySet<string>;
  since?: Date;
  until?: Date;
}

/** Type and container match; the time window is checked separately (inWindow). */
export function matchesFilter(f: EventFilter, ev: Event): boolean {
  if (f.containerIds.size > 0 || f.imageIds.size > 0) {
    const container = ev.containerId !== "" && f.containerIds.has(ev.containerId);
    const image = ev.imageId !== "" && f.imageIds.has(ev.imageId);
    if (!container && !image) return false;
  }
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

/** Image id for an id, id prefix or reference; IMAGE_NOT_FOUND for an unknown one. */
export type ImageResolver = (ref: string) => string | Promise<string>;

/** As resolveRef, for images: a removed image's full id is accepted while its events are stored. */
async function resolveImageRef(store: Resolver, resolveImage: ImageResolver | undefined, ref: string, field: string): Promise<string> {
  if (ref === "") throw invalidArgument(field, "an image id or reference is required");
  try {
    if (!resolveImage) throw new HullError("IMAGE_NOT_FOUND", `image "${ref}" not found (this server has no image store)`, { image: ref });
    return await resolveImage(ref);
  } catch (err) {
    if (!(err instanceof HullError)) throw err;
    const full = FULL_IMAGE_ID.exec(ref);
    if (err.reason === "IMAGE_NOT_FOUND" && full) {
      const id = `sha256:${full[1]}`;
      const history = await store.readEvents();
      if (history.some((ev) => ev.imageId === id)) return id;
    }
    throw err;
  }
}

export async function buildEventFilter(store: Resolver, req: EventsRequest, resolveImage?: ImageResolver): Promise<EventFilter> {
  const types = checkTypes(req.types);
  const since = checkTime("since", req.since);
  const until = checkTime("until", req.until);
  if (since && until && until.getTime() < since.getTime()) {
    throw invalidArgument("until", `${until.toISOString()} is before since (${since.toISOString()})`);
  }
  const containerIds = new Set<string>();
  for (const [i, ref] of req.containers.entries()) containerIds.add(await resolveRef(store, ref, `containers[${i}]`));
  const imageIds = new Set<string>();
  for (const [i, ref] of req.images.entries()) imageIds.add(await resolveImageRef(store, resolveImage, ref, `images[${i}]`));
  return { containerIds, imageIds, types, since, until };
}
