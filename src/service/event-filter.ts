// What one Events call asks for, once validateEventsRequest
// (src/validation/requests.ts) has checked it: the containers and images
// (resolved to ids once, so one removed mid-stream keeps matching its own
// events), the event types and the time window.
import type { Event, EventsRequest } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import type { StateStore } from "../store/store.js";
import { FULL_ID } from "../validation/rules.js";

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

type Resolver = Pick<StateStore, "resolveContainer" | "readEvents">;

/**
 * Resolves one container reference. A full id that is no longer in the store
 * but still has stored events is accepted, so the history of a removed
 * container can be replayed; anything else unknown is NOT_FOUND.
 */
async function resolveRef(store: Resolver, ref: string): Promise<string> {
  try {
    return await store.resolveContainer(ref);
  } catch (err) {
    if (!(err instanceof HullError)) throw err;
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
async function resolveImageRef(store: Resolver, resolveImage: ImageResolver | undefined, ref: string): Promise<string> {
  try {
    if (!resolveImage) throw new HullError("IMAGE_NOT_FOUND", `image "${ref}" not found (this server has no image store)`, { image: ref });
    return await resolveImage(ref);
  } catch (err) {
    if (!(err instanceof HullError)) throw err;
    const hex = ref.startsWith("sha256:") ? ref.slice("sha256:".length) : ref;
    if (err.reason === "IMAGE_NOT_FOUND" && FULL_ID.test(hex)) {
      const id = `sha256:${hex}`;
      const history = await store.readEvents();
      if (history.some((ev) => ev.imageId === id)) return id;
    }
    throw err;
  }
}

/** The filter of a request validateEventsRequest has passed: only lookups are left to fail (NOT_FOUND). */
export async function buildEventFilter(store: Resolver, req: EventsRequest, resolveImage?: ImageResolver): Promise<EventFilter> {
  const containerIds = new Set<string>();
  for (const ref of req.containers) containerIds.add(await resolveRef(store, ref));
  const imageIds = new Set<string>();
  for (const ref of req.images) imageIds.add(await resolveImageRef(store, resolveImage, ref));
  return { containerIds, imageIds, types: new Set(req.types), since: req.since, until: req.until };
}
