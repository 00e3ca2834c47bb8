// Turns the CLI's podman-style option strings into API values. Everything
// here is pure and throws UsageError, so a typo exits 125 before any call is
// made; deeper validation (paths exist, names legal) stays in the daemon.
import { resolve } from "node:path";
import { ContainerState, type Device, type Mount, type RestartPolicy } from "../gen/hull/v1/container.js";

/** A bad command line: reported like commander's own errors, exit 125. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** commander collector for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function parseInteger(flag: string, value: string, min = 0): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag}: "${value}" is not an integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag}: "${value}" must be an integer >= ${min}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "64m", "1g", "512k", "1048576" → bytes (binary units, as podman's --memory). */
export function parseBytes(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`${flag}: "${value}" is not a size (e.g. 64m, 1g, 1048576)`);
  const bytes = Math.floor(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${flag}: "${value}" is too large`);
  return bytes;
}

/** KEY=VALUE pairs into a map; `allowBare` lets "KEY" stand for KEY="" (podman labels). */
export function parseKeyValues(flag: string, entries: string[], allowBare: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq === 0 || (eq < 0 && !allowBare)) throw new UsageError(`${flag}: "${entry}" is not KEY=VALUE`);
    if (eq < 0) out[entry] = "";
    else out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/**
 * -e entries: "K=V" as is; a bare "K" takes the CLI's own $K as podman does,
 * and is dropped when unset.
 */
export function parseEnv(entries: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq === 0) throw new UsageError(`--env: "${entry}" has no variable name`);
    if (eq > 0) out.push(entry);
    else if (env[entry] !== undefined) out.push(`${entry}=${env[entry]}`);
  }
  return out;
}

/** "no", "always", "unless-stopped", "on-failure", "on-failure:3". */
export function parseRestart(value: string): RestartPolicy {
  const [name = "", retries, ...rest] = value.split(":");
  const known = ["no", "on-failure", "always", "unless-stopped"];
  if (!known.includes(name) || rest.length > 0) {
    throw new UsageError(`--restart: "${value}" is not one of ${known.join(", ")} (on-failure takes :N)`);
  }
  if (retries !== undefined && name !== "on-failure") throw new UsageError(`--restart: only on-failure takes a retry count`);
  return { name, maxRetries: retries === undefined ? 0 : parseInteger("--restart", retries) };
}

/**
 * -v SRC:DST[:OPTS]: a bind mount; OPTS is podman's comma list (ro, rw,
 * nosuid, ...). Relative sources resolve against the CLI's cwd because the
 * daemon's cwd means nothing to the user; named volumes do not exist in hull.
 */
export function parseVolume(spec: string, cwd = process.cwd()): Mount {
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw new UsageError(`--volume: "${spec}" is not SRC:DST[:OPTIONS]`);
  }
  const [src = "", destination = "", opts] = parts;
  if (!src.startsWith("/") && !src.startsWith(".")) {
    throw new UsageError(`--volume: "${src}" looks like a named volume; hull only bind-mounts host paths (use ./${src} or an absolute path)`);
  }
  const options = opts ? opts.split(",").filter((o) => o !== "" && o !== "rw") : [];
  return { type: "bind", source: resolve(cwd, src), destination, options };
}

/**
 * --device HOST[:CONTAINER][:PERMS], as podman's ParseDevice reads it: with
 * two parts the second is PERMS when it is made of r, w and m, else the
 * container path (which must then be absolute). An empty container path or
 * PERMS is the daemon's default (the host path, "rwm"); the daemon checks
 * the paths and the letters.
 */
export function parseDevice(spec: string): Device {
  const parts = spec.split(":");
  const [hostPath = "", second, third] = parts;
  if (parts.length > 3 || hostPath === "") throw new UsageError(`--device: "${spec}" is not HOST[:CONTAINER[:PERMS]]`);
  if (parts.length === 2 && second !== undefined && /^[rwm]+$/.test(second)) return { hostPath, containerPath: "", permissions: second };
  if (second !== undefined && second !== "" && !second.startsWith("/"))
    throw new UsageError(`--device: "${second}" in "${spec}" is neither an absolute container path nor permissions (r, w, m)`);
  return { hostPath, containerPath: second ?? "", permissions: third ?? "" };
}

/**
 * Podman's --mount type=image,source=IMG,destination=/x (src, dst and
 * target too): an image volume. Read-only whatever is asked: Podman's
 * rw=true is refused, as the daemon refuses "rw" (containerd refuses a
 * writable image volume). Host paths go through --volume.
 */
export function parseMount(spec: string): Mount {
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? "true" : part.slice(eq + 1));
  }
  const type = fields.get("type") ?? "";
  if (type !== "image") throw new UsageError(`--mount: type "${type}" is not supported (only type=image; bind mounts use --volume)`);
  const source = fields.get("source") ?? fields.get("src") ?? "";
  const destination = fields.get("destination") ?? fields.get("dst") ?? fields.get("target") ?? "";
  if (source === "" || destination === "") throw new UsageError(`--mount: "${spec}" needs source=IMAGE and destination=PATH`);
  const rw = fields.get("rw");
  if (rw === "true" || fields.get("readonly") === "false" || fields.get("ro") === "false")
    throw new UsageError(`--mount: the image volume of ${source} at ${destination} is always read-only`);
  const known = new Set(["type", "source", "src", "destination", "dst", "target", "rw", "ro", "readonly"]);
  const unknown = [...fields.keys()].find((k) => !known.has(k));
  if (unknown !== undefined) throw new UsageError(`--mount: "${unknown}" is not a type=image option (source, destination, ro)`);
  return { type: "image", source, destination, options: ["ro"] };
}

export function parseNetwork(value: string): string {
  if (value !== "host" && value !== "none") throw new UsageError(`--network: "${value}" is not host or none`);
  return value;
}

const STATE_PREFIX = "CONTAINER_STATE_";

/** "running", "Exited", "CONTAINER_STATE_PAUSED" → enum value. */
export function parseState(flag: string, value: string): ContainerState {
  const upper = value.trim().toUpperCase();
  const key = upper.startsWith(STATE_PREFIX) ? upper : STATE_PREFIX + upper;
  const state = (ContainerState as unknown as Record<string, ContainerState | undefined>)[key];
  if (state === undefined || state === ContainerState.CONTAINER_STATE_UNSPECIFIED || state === ContainerState.UNRECOGNIZED) {
    throw new UsageError(`${flag}: "${value}" is not a state (${stateNames().join(", ")})`);
  }
  return state;
}

export function stateNames(): string[] {
  return Object.keys(ContainerState)
    .filter((k) => k.startsWith(STATE_PREFIX) && k !== `${STATE_PREFIX}UNSPECIFIED`)
    .map((k) => k.slice(STATE_PREFIX.length).toLowerCase());
}

export interface PsFilters {
  states: ContainerState[];
  labels: Record<string, string>;
  name: string;
  idPrefix: string;
}

/** ps --filter: state=S (repeatable, any of), label=K[=V] (all of), name=N, id=PREFIX. */
export function parseFilters(filters: string[]): PsFilters {
  const out: PsFilters = { states: [], labels: {}, name: "", idPrefix: "" };
  for (const filter of filters) {
    const eq = filter.indexOf("=");
    const key = eq < 0 ? filter : filter.slice(0, eq);
    const value = eq < 0 ? "" : filter.slice(eq + 1);
    if (eq < 0 || value === "") throw new UsageError(`--filter: "${filter}" is not KEY=VALUE`);
    switch (key) {
      case "state":
      case "status":
        out.states.push(parseState("--filter state", value));
        break;
      case "label":
        Object.assign(out.labels, parseKeyValues("--filter label", [value], true));
        break;
      case "name":
        if (out.name !== "") throw new UsageError("--filter: give name= once");
        out.name = value;
        break;
      case "id":
        if (out.idPrefix !== "") throw new UsageError("--filter: give id= once");
        out.idPrefix = value;
        break;
      default:
        throw new UsageError(`--filter: unknown key "${key}" (state, label, name, id)`);
    }
  }
  return out;
}

/**
 * Splits create's operands into IMAGE and command. Commander swallows a `--`
 * that comes before every operand but keeps one that follows an operand, so
 * `rawTail` (the argv after "create") tells the two cases apart.
 */
export function splitCreateOperands(operands: string[], rawTail: string[], hasSource: boolean): { image: string; command: string[] } {
  const rawSep = rawTail.indexOf("--");
  const afterRaw = rawSep >= 0 ? rawTail.slice(rawSep + 1) : undefined;
  // Checked first: the command itself may contain "--" (sh -c '...' -- args).
  const swallowed = afterRaw !== undefined && afterRaw.length === operands.length && afterRaw.every((a, i) => a === operands[i]);
  if (swallowed) return { image: "", command: operands };
  const sep = operands.indexOf("--");
  if (sep >= 0) {
    const before = operands.slice(0, sep);
    if (before.length > 1) throw new UsageError(`create takes at most one IMAGE before "--", got: ${before.join(" ")}`);
    return { image: before[0] ?? "", command: operands.slice(sep + 1) };
  }
  if (hasSource) return { image: "", command: operands };
  return { image: operands[0] ?? "", command: operands.slice(1) };
}
