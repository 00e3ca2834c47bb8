// `hull events`: podman's events command over the Events stream. One line
// per event, podman's layout; --since replays stored events, --until ends the
// stream (at once when it is in the past). Container and image events.
import type { Command } from "commander";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { Event, EventsRequest, type ContainerServiceClient, type EventsResponse } from "../gen/hull/v1/container.js";
import { CONTAINER_EVENT_TYPES, IMAGE_EVENT_TYPES } from "../domain/event-types.js";
import { UsageError, collect } from "./parse.js";
import type { Session } from "./session.js";
import { parseInputTime } from "./time-input.js";

export interface EventFilters {
  containers: string[];
  types: string[];
  /** Only present when an image= filter was given. */
  images?: string[];
}

/**
 * podman's filter keys: container=, image=, event= (the event's status, e.g.
 * start) and type= (the object type, container or image). type= with an
 * event name is taken as event= too, since `type=start` is what people type.
 * An object type alone asks for all of its event types; next to event names
 * it adds nothing (the names already say which object they are about).
 */
export function parseEventFilters(entries: string[]): EventFilters {
  const out: EventFilters = { containers: [], types: [] };
  const objects = new Set<string>();
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const value = eq < 0 ? "" : entry.slice(eq + 1);
    if (value === "") throw new UsageError(`--filter: "${entry}" is not KEY=VALUE`);
    switch (key) {
      case "container":
        out.containers.push(value);
        break;
      case "image":
        (out.images ??= []).push(value);
        break;
      case "event":
        out.types.push(value);
        break;
      case "type":
        if (value === "container" || value === "image") objects.add(value);
        else out.types.push(value);
        break;
      default:
        throw new UsageError(`--filter: unknown key "${key}" (use container=ID|NAME, image=ID|REFERENCE, event=TYPE or type=TYPE)`);
    }
  }
  // Both object types, like none, is every event.
  if (out.types.length === 0 && objects.size === 1) out.types = [...(objects.has("image") ? IMAGE_EVENT_TYPES : CONTAINER_EVENT_TYPES)];
  return out;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** Go's time.String() for a UTC time, as podman prints event times: fraction without trailing zeros. */
export function formatEventTime(d: Date): string {
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? "" : `.${pad(ms, 3).replace(/0+$/, "")}`;
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${date} ${time}${frac} +0000 UTC`;
}

/**
 * `<time> container <type> <id> (name=<name>, k=v, ...)`, attributes sorted as
 * podman sorts them; an image event reads `<time> image <type without image_>
 * <image id hex> (k=v, ...)`.
 */
export function eventLine(ev: Event, noTrunc = false): string {
  if (ev.containerId === "" && ev.imageId !== "") {
    const hex = ev.imageId.replace(/^sha256:/, "");
    const attrs = Object.keys(ev.attributes)
      .sort()
      .map((k) => `${k}=${ev.attributes[k] ?? ""}`);
    const status = ev.type.replace(/^image_/, "");
    return `${ev.time ? formatEventTime(ev.time) : "-"} image ${status} ${noTrunc ? hex : hex.slice(0, 12)} (${attrs.join(", ")})`;
  }
  const id = noTrunc ? ev.containerId : ev.containerId.slice(0, 12);
  const attrs = Object.keys(ev.attributes)
    .sort()
    .map((k) => `${k}=${ev.attributes[k] ?? ""}`);
  const details = [`name=${ev.containerName}`, ...attrs].join(", ");
  return `${ev.time ? formatEventTime(ev.time) : "-"} container ${ev.type} ${id} (${details})`;
}

interface EventsOptions {
  filter: string[];
  since?: string;
  until?: string;
  format?: string;
  trunc: boolean;
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

/** Prints the stream until it ends; Ctrl-C (or SIGTERM) cancels it and ends cleanly. */
function printEvents(client: ContainerServiceClient, req: EventsRequest, render: (ev: Event) => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const call = client.events(req);
    let cancelledByUs = false;
    const stop = (): void => {
      cancelledByUs = true;
      call.cancel();
    };
    const finish = (err?: unknown): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      if (err === undefined) resolve();
      else reject(err);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    call.on("data", (res: EventsResponse) => {
      if (!res.event) return;
      // A slow reader of our stdout slows the stream; hulld bounds what it holds for us.
      if (!process.stdout.write(`${render(res.event)}\n`)) {
        call.pause();
        process.stdout.once("drain", () => call.resume());
      }
    });
    call.on("end", () => finish());
    call.on("error", (err: unknown) => {
      finish(cancelledByUs && isServiceError(err) && err.code === GrpcStatus.CANCELLED ? undefined : err);
    });
  });
}

export function registerEventsCommands(program: Command, session: Session): void {
  program
    .command("events")
    .description("show container and image events (live; --since replays stored events first)")
    .option(
      "-f, --filter <KEY=VALUE>",
      "container=ID|NAME, image=ID|REFERENCE, event=TYPE or type=TYPE (container, image or an event type, e.g. type=start); repeatable",
      collect,
      [],
    )
    .option("--since <time>", "replay events since TIME (RFC3339, unix seconds, or a duration back from now like 10m)")
    .option("--until <time>", "stop at TIME (as --since; a duration counts forward from now); in the past: replay only")
    .option("--format <format>", "json for one JSON object per line")
    .option("--no-trunc", "full container and image ids")
    .action(async (opts: EventsOptions) => {
      if (opts.format !== undefined && opts.format !== "json") throw new UsageError(`--format: "${opts.format}" is not supported (only json)`);
      const filters = parseEventFilters(opts.filter);
      const now = Date.now();
      const since = opts.since === undefined ? undefined : parseInputTime("--since", opts.since, true, now);
      const until = opts.until === undefined ? undefined : parseInputTime("--until", opts.until, false, now);
      const req = EventsRequest.fromPartial({ containers: filters.containers, images: filters.images ?? [], types: filters.types, since, until });
      const render = opts.format === "json" ? (ev: Event) => JSON.stringify(Event.toJSON(ev)) : (ev: Event) => eventLine(ev, !opts.trunc);
      await printEvents(await session.connect(), req, render);
    });
}
