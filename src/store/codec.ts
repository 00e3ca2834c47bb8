// Key layout and the JSON shapes kept in the state database. Records are
// decoded field by field with defaults, so a record written by an older hulld
// (missing a field added since) still loads instead of breaking the daemon.
import { ContainerConfig, ContainerState, Event } from "../gen/hull/v1/container.js";
import type { ContainerRecord, ExecSessionRecord, ImageVolumeRecord, OperationIntent } from "./record.js";

export const SCHEMA_VERSION = 1;
export const SCHEMA_KEY = "meta/schema";
export const EVENT_SEQ_KEY = "meta/event-sequence";

export const CTR_PREFIX = "ctr/";
export const NAME_PREFIX = "name/";
export const EVT_PREFIX = "evt/";
/** dep/<dependency id>/<dependent id>: who depends on whom, without a scan. */
export const DEP_PREFIX = "dep/";

/** img/<image id>: image records, owned by src/storage/image-store.ts. */
export const IMG_PREFIX = "img/";
export const POD_PREFIX = "pod/";

export const ctrKey = (id: string): string => CTR_PREFIX + id;
export const nameKey = (name: string): string => NAME_PREFIX + name;
export const depKey = (dependency: string, dependent: string): string => `${DEP_PREFIX}${dependency}/${dependent}`;

// 16 digits hold Number.MAX_SAFE_INTEGER, so key order is numeric order.
const SEQ_DIGITS = 16;
export const evtKey = (seq: number): string => EVT_PREFIX + String(seq).padStart(SEQ_DIGITS, "0");

export function seqOfEvtKey(key: string): number {
  return Number(key.slice(EVT_PREFIX.length));
}

/**
 * Bounds of every key starting with `prefix`. Keys are ASCII here, and
 * U+FFFF encodes (EF BF BF) above any ASCII byte, so it caps the range.
 */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: prefix + "\uffff" };
}

type Json = Record<string, unknown>;

function isJson(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const bool = (v: unknown): boolean => v === true;
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((e): e is string => typeof e === "string") : []);

export function encodeRecord(rec: ContainerRecord): Json {
  return { ...rec, config: ContainerConfig.toJSON(rec.config) };
}

function decodeExec(v: unknown): ExecSessionRecord {
  const o = isJson(v) ? v : {};
  return { id: str(o.id), command: strs(o.command), running: bool(o.running), exitCode: num(o.exitCode), pid: num(o.pid) };
}

/** Throws on a value that is not a record at all; the caller adds the key. */
export function decodeRecord(v: unknown): ContainerRecord {
  if (!isJson(v) || typeof v.id !== "string") throw new Error("stored value is not a container record");
  const state = num(v.state);
  return {
    id: v.id,
    name: str(v.name),
    state: state in ContainerState ? (state as ContainerState) : ContainerState.UNRECOGNIZED,
    config: ContainerConfig.fromJSON(isJson(v.config) ? v.config : {}),
    dependencyIds: strs(v.dependencyIds),
    exitCode: num(v.exitCode),
    exitSignal: num(v.exitSignal),
    pid: num(v.pid),
    conmonPid: num(v.conmonPid),
    createdAt: str(v.createdAt),
    startedAt: str(v.startedAt),
    finishedAt: str(v.finishedAt),
    restartCount: num(v.restartCount),
    stoppedByUser: bool(v.stoppedByUser),
    stateReason: str(v.stateReason),
    oomKilled: bool(v.oomKilled),
    mountCount: num(v.mountCount),
    rootfs: str(v.rootfs),
    bundlePath: str(v.bundlePath),
    logPath: str(v.logPath),
    execSessions: Array.isArray(v.execSessions) ? v.execSessions.map(decodeExec) : [],
    revision: num(v.revision),
    ...(typeof v.imageId === "string" && v.imageId !== "" ? { imageId: v.imageId } : {}),
    ...(Array.isArray(v.imageVolumes) && v.imageVolumes.length > 0 ? { imageVolumes: v.imageVolumes.map(decodeImageVolume) } : {}),
    ...(isJson(v.processUser) ? { processUser: decodeProcessUser(v.processUser) } : {}),
  };
}

function decodeImageVolume(v: unknown): ImageVolumeRecord {
  if (!isJson(v) || typeof v.imageId !== "string") throw new Error("stored image volume is not { mount, imageId }");
  return { mount: num(v.mount), imageId: v.imageId };
}

function decodeProcessUser(v: Json): NonNullable<ContainerRecord["processUser"]> {
  return { uid: num(v.uid), gid: num(v.gid), groups: Array.isArray(v.groups) ? v.groups.map(num) : [] };
}

export function encodeEvent(ev: Event): unknown {
  return Event.toJSON(ev);
}

export function decodeEvent(v: unknown): Event {
  if (!isJson(v)) throw new Error("stored value is not an event");
  return Event.fromJSON(v);
}

/** intent/<id>: the write-ahead note of an operation in progress (see OperationIntent). */
export const INTENT_PREFIX = "intent/";
export const intentKey = (id: string): string => INTENT_PREFIX + id;
const INTENT_OPS: ReadonlySet<string> = new Set(["init", "stop", "remove"]);

export function decodeIntent(v: unknown): OperationIntent {
  if (typeof v !== "object" || v === null) throw new Error("stored value is not an operation intent");
  const o = v as Record<string, unknown>;
  if (typeof o.op !== "string" || !INTENT_OPS.has(o.op)) throw new Error(`unknown operation intent ${JSON.stringify(o.op)}`);
  return {
    op: o.op as OperationIntent["op"],
    startedAt: typeof o.startedAt === "string" ? o.startedAt : "",
    ...(typeof o.killAt === "string" ? { killAt: o.killAt } : {}),
  };
}
