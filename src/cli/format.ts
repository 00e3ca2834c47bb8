// Human output for `hull ps`: podman's columns and wording, so people and
// scripts used to podman read it without surprises.
import Table from "cli-table3";
import { Container, ContainerState } from "../gen/hull/v1/container.js";

const S = ContainerState;

/** go-units' HumanDuration, which podman uses for CREATED and STATUS. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

function ago(when: Date | undefined, now: number): string {
  return when ? `${humanDuration(now - when.getTime())} ago` : "";
}

/**
 * The STATUS column. CONFIGURED reads "Created" and CREATED "Initialized"
 * because hull's states are libpod's and podman prints those words for them.
 */
export function statusText(c: Container, now = Date.now()): string {
  switch (c.state) {
    case S.CONTAINER_STATE_CONFIGURED:
      return "Created";
    case S.CONTAINER_STATE_CREATED:
      return "Initialized";
    case S.CONTAINER_STATE_RUNNING:
      return c.startedAt ? `Up ${humanDuration(now - c.startedAt.getTime())}` : "Up";
    case S.CONTAINER_STATE_PAUSED:
      return "Paused";
    case S.CONTAINER_STATE_STOPPING:
      return "Stopping";
    case S.CONTAINER_STATE_STOPPED:
    case S.CONTAINER_STATE_EXITED:
      return `Exited (${c.exitCode}) ${ago(c.finishedAt, now)}`.trimEnd();
    case S.CONTAINER_STATE_REMOVING:
      return "Removing";
    default:
      return "Unknown";
  }
}

/** Shell-ish rendering of argv: words with spaces or quotes get single quotes. */
export function commandText(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

export interface PsOptions {
  noTrunc: boolean;
  now?: number;
}

/** A borderless, space-aligned table like podman's, via cli-table3. */
export function psTable(containers: Container[], opts: PsOptions): string {
  const now = opts.now ?? Date.now();
  // CRI containers belong to pods: their pod's name and namespace show as two more columns (podman ps --pod's habit).
  const withPods = containers.some((c) => c.config?.pod !== undefined);
  const table = new Table({
    head: ["CONTAINER ID", "NAME", "COMMAND", "CREATED", "STATUS", "RESTARTS", ...(withPods ? ["POD", "NAMESPACE"] : [])],
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "  ",
    },
    // No colours: the output goes to pipes and tests as often as to terminals.
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
  });
  for (const c of containers) {
    const command = commandText(c.config?.command ?? []);
    table.push([
      opts.noTrunc ? c.id : c.id.slice(0, 12),
      c.name,
      opts.noTrunc ? command : truncate(command, 20),
      ago(c.createdAt, now),
      statusText(c, now),
      String(c.restartCount),
      ...(withPods ? [c.config?.pod?.name ?? "", c.config?.pod?.namespace ?? ""] : []),
    ]);
  }
  // cli-table3 pads the last column too; trailing blanks only hurt grep and diff.
  return table
    .toString()
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n");
}

/** The JSON every --format json prints: proto JSON names (lowerCamelCase), as buf curl shows them. */
export function containersJson(containers: Container[]): string {
  return JSON.stringify(
    containers.map((c) => Container.toJSON(c)),
    null,
    2,
  );
}
