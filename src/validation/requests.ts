// One validator per hull.v1.ContainerService request, run at the top of its
// handler before any lookup or lock: a request that passes is well-formed
// (the store, the runtime and the file system still decide whether it can be
// done). CONTAINER_SERVICE_VALIDATORS lists them by RPC name. Each first
// refuses a request that did not decode (see wire.ts).
import {
  BatchOperationKind,
  type AttachContainerRequest,
  type AttachOpen,
  type BatchRequest,
  type CheckpointContainerRequest,
  type ContainerConfig,
  type ContainerLogsRequest,
  type CreateContainerRequest,
  type DeleteArtifactRequest,
  type EventsRequest,
  type ExecOpen,
  type ExecSyncRequest,
  type GetArtifactRequest,
  type KillContainerRequest,
  type ListContainersRequest,
  type PutArtifactRequest,
  type RemoveContainerRequest,
  type ResizeTerminalRequest,
  type RestartContainerRequest,
  type RestoreContainerRequest,
  type StopContainerRequest,
  type TerminalSize,
  type WaitContainerRequest,
} from "../gen/hull/v1/container.js";
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { invalidArgument } from "../errors.js";
import type { AttachOptions } from "../domain/attach-options.js";
import { EVENT_TYPES } from "../domain/event-types.js";
import { parseDetachKeys } from "../domain/detach-keys.js";
import { rejectUndecodable } from "./wire.js";
import { ALL_STATES } from "../statemachine/states.js";
import { validateContainerConfig } from "./container-config.js";
import {
  MAX_EXEC_TIMEOUT_SECONDS,
  MAX_NAME_LENGTH,
  MAX_STOP_TIMEOUT_SECONDS,
  checkAbsolutePath,
  checkArgv,
  checkContainerRef,
  checkCount,
  checkDetachKeys,
  checkEnv,
  checkFileName,
  checkHostFilePath,
  checkIdPrefix,
  checkImageRef,
  checkName,
  checkProcessSize,
  checkSignal,
  checkStringMap,
  checkTerminalSize,
  checkText,
  checkTimeWindow,
  checkTimestamp,
  checkTimeout,
  checkUser,
  shown,
  validateArtifactData,
} from "./rules.js";

/** Above this a tail is not "the last few lines"; it also bounds the log reader's bookkeeping. */
export const MAX_TAIL = 1_000_000;
export const MAX_BATCH_OPERATIONS = 64;
/** Filters: more entries than this are not a filter anyone means. */
export const MAX_FILTER_ENTRIES = 256;
/** Event type names are short words ("exec_start"). */
const MAX_EVENT_TYPE_LENGTH = 64;
const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/** Requests that name one container and nothing else to check. */
export function validateIdRequest(req: { id: string }): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
}

export const validateInitRequest = validateIdRequest;
export const validateStartRequest = validateIdRequest;
export const validatePauseRequest = validateIdRequest;
export const validateUnpauseRequest = validateIdRequest;
export const validateMountRequest = validateIdRequest;
export const validateUnmountRequest = validateIdRequest;
export const validateExportRequest = validateIdRequest;
export const validateListArtifactsRequest = validateIdRequest;
export const validateCleanupRequest = validateIdRequest;
export const validateSyncRequest = validateIdRequest;
export const validateInspectRequest = validateIdRequest;

export function validateCreateRequest(req: CreateContainerRequest): asserts req is CreateContainerRequest & { config: ContainerConfig } {
  rejectUndecodable(req);
  if (!req.config) throw invalidArgument("config", "required");
  validateContainerConfig(req.config, "config");
}

/** Stop, Restart and Remove: a container and an optional stop timeout. */
function validateStopLike(req: { id: string; timeoutSeconds?: number | undefined }): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  checkTimeout("timeout_seconds", req.timeoutSeconds, MAX_STOP_TIMEOUT_SECONDS);
}

export const validateStopRequest: (req: StopContainerRequest) => void = validateStopLike;
export const validateRestartRequest: (req: RestartContainerRequest) => void = validateStopLike;
export const validateRemoveRequest: (req: RemoveContainerRequest) => void = validateStopLike;

export function validateKillRequest(req: KillContainerRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  if (req.signal !== "") checkSignal("signal", req.signal);
}

export function validateResizeRequest(req: ResizeTerminalRequest): asserts req is ResizeTerminalRequest & { size: TerminalSize } {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  checkTerminalSize("size", req.size);
}

function checkState(field: string, state: number): void {
  if (!(ALL_STATES as readonly number[]).includes(state)) throw invalidArgument(field, `${state} is not a container state`);
}

export function validateWaitRequest(req: WaitContainerRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  if (req.condition !== undefined) checkState("condition", req.condition);
}

export function validateListRequest(req: ListContainersRequest): void {
  rejectUndecodable(req);
  checkCount("states", req.states, MAX_FILTER_ENTRIES);
  req.states.forEach((s, i) => checkState(`states[${i}]`, s));
  checkStringMap("labels", req.labels);
  checkText("name", req.name, MAX_NAME_LENGTH);
  checkIdPrefix("id_prefix", req.idPrefix);
}

export function validatePutArtifactRequest(req: PutArtifactRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  checkFileName("name", req.name);
  validateArtifactData(req.data);
}

export function validateGetArtifactRequest(req: GetArtifactRequest | DeleteArtifactRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  checkFileName("name", req.name);
}

export const validateDeleteArtifactRequest: (req: DeleteArtifactRequest) => void = validateGetArtifactRequest;

/** Every operation is checked before the first runs: a batch never half-runs on a malformed request. */
export function validateBatchRequest(req: BatchRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  if (req.operations.length === 0) throw invalidArgument("operations", "at least one operation is required");
  checkCount("operations", req.operations, MAX_BATCH_OPERATIONS);
  req.operations.forEach((op, i) => {
    const f = `operations[${i}]`;
    if (op.kind === BatchOperationKind.BATCH_OPERATION_KIND_UNSPECIFIED || typeof BatchOperationKind[op.kind] !== "string") {
      throw invalidArgument(`${f}.kind`, `${op.kind} is not a batch operation`);
    }
    if (op.kind === BatchOperationKind.BATCH_OPERATION_KIND_KILL) {
      if (op.signal !== "") checkSignal(`${f}.signal`, op.signal);
    } else if (op.signal !== "") {
      throw invalidArgument(`${f}.signal`, "only KILL takes a signal");
    }
    checkTimeout(`${f}.timeout_seconds`, op.timeoutSeconds, MAX_STOP_TIMEOUT_SECONDS);
  });
}

export function validateCheckpointRequest(req: CheckpointContainerRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  // "" keeps the image in the container's dir only, for a later in-place restore.
  if (req.targetFile !== "") checkHostFilePath("target_file", req.targetFile);
}

/**
 * After validateCheckpointRequest, against the host: the archive's directory
 * exists and the path is not a directory. It must be writable before CRIU
 * stops the processes: an archive that cannot be written after the dump is
 * too late.
 */
export async function validateCheckpointTarget(req: CheckpointContainerRequest): Promise<void> {
  if (req.targetFile === "") return;
  const path = req.targetFile;
  const parent = await stat(dirname(path)).catch(() => undefined);
  if (!parent?.isDirectory()) throw invalidArgument("target_file", `the directory of ${shown(path)} does not exist`);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) throw invalidArgument("target_file", `${shown(path)} is a directory`);
}

/** Either id (restore the kept checkpoint in place) or target_file (an archive, optionally under a new name). */
export function validateRestoreRequest(req: RestoreContainerRequest): void {
  rejectUndecodable(req);
  if (req.targetFile === "") {
    if (req.id === "")
      throw invalidArgument("target_file", "give the archive to restore from (an absolute host path), or the id of a container whose checkpoint was kept");
    checkContainerRef("id", req.id);
    if (req.name !== "") throw invalidArgument("name", "a new name needs target_file: only an archive restores as a new container");
    return;
  }
  checkHostFilePath("target_file", req.targetFile);
  if (req.id !== "") throw invalidArgument("id", "give either id (restore the container's kept checkpoint) or target_file (restore from an archive), not both");
  if (req.name !== "") checkName("name", req.name);
}

export function validateLogsRequest(req: ContainerLogsRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  if (req.tail !== undefined && req.tail > MAX_TAIL) throw invalidArgument("tail", `${req.tail} is more than the ${MAX_TAIL} lines allowed`);
  checkTimeWindow("since", req.since, req.until);
  if (req.raw && req.timestamps) throw invalidArgument("raw", "raw output frames carry no time: ask for timestamps without raw");
}

/** The process an exec runs, by the rules CreateContainer applies to a config's. */
export function validateProcessFields(p: { command: string[]; env: string[]; workingDir: string; user: string }, prefix = ""): void {
  const f = (name: string): string => (prefix === "" ? name : `${prefix}.${name}`);
  checkArgv(f("command"), p.command, true);
  checkEnv(f("env"), p.env);
  checkProcessSize(f("command"), p.command, p.env);
  if (p.workingDir !== "") checkAbsolutePath(f("working_dir"), p.workingDir);
  checkUser(f("user"), p.user);
}

export function validateExecSyncRequest(req: ExecSyncRequest): void {
  rejectUndecodable(req);
  checkContainerRef("id", req.id);
  validateProcessFields(req);
  checkTimeout("timeout_seconds", req.timeoutSeconds, MAX_EXEC_TIMEOUT_SECONDS);
}

/** ExecContainer's first message. A size of 0x0 means "not given". */
export function validateExecOpen(open: ExecOpen, prefix = "open"): void {
  rejectUndecodable(open);
  checkContainerRef(`${prefix}.id`, open.id);
  validateProcessFields(open, prefix);
  if (open.size && (open.size.height !== 0 || open.size.width !== 0)) checkTerminalSize(`${prefix}.size`, open.size);
  checkDetachKeys(`${prefix}.detach_keys`, open.detachKeys);
}

/** AttachContainer's first message, checked and read into what the attach runs (src/ops/attach.ts). */
export function parseAttachOpen(open: AttachOpen, prefix = "open"): AttachOptions {
  rejectUndecodable(open);
  checkContainerRef(`${prefix}.id`, open.id);
  checkDetachKeys(`${prefix}.detach_keys`, open.detachKeys);
  const stream = open.stream ?? true;
  if (!stream && !open.logs) throw invalidArgument(`${prefix}.stream`, "false leaves nothing to send unless logs is set");
  const named = open.stdin || open.stdout || open.stderr;
  return {
    ref: open.id,
    ...(named ? { streams: { stdin: open.stdin, stdout: open.stdout, stderr: open.stderr } } : {}),
    detachKeys: parseDetachKeys(open.detachKeys, `${prefix}.detach_keys`),
    logs: open.logs,
    stream,
    start: open.start,
    recursive: open.recursive,
  };
}

/**
 * AttachContainer's later messages: a resize's size. Which messages may come
 * when (stdin only if opened with it, one open) is the attach's own to refuse.
 */
export function validateAttachInput(req: AttachContainerRequest): void {
  if (req.message?.$case === "resize") checkTerminalSize("resize", req.message.value);
}

/** Docker's HTTP attach query, checked (src/service/http-attach.ts). */
export interface AttachQuery {
  ref: string;
  stream: boolean;
  logs: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys: string;
}

/** A query flag as Docker reads one: 1/true/"" or 0/false; absent is undefined. */
function queryFlag(params: URLSearchParams, name: string): boolean | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  switch (raw.toLowerCase()) {
    case "1":
    case "true":
    case "":
      return true;
    case "0":
    case "false":
      return false;
    default:
      throw invalidArgument(name, `"${raw.slice(0, 20)}" is not a boolean (1, 0, true, false)`);
  }
}

/**
 * The container in an attach path (still URL-encoded) and the query's
 * ?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=, each refusal naming
 * the parameter. The same rules as AttachContainer's open message.
 */
export function parseAttachQuery(rawId: string, params: URLSearchParams): AttachQuery {
  let ref: string;
  try {
    ref = decodeURIComponent(rawId);
  } catch {
    throw invalidArgument("id", `${shown(rawId)} is not URL-encoded text`);
  }
  checkContainerRef("id", ref);
  const stream = queryFlag(params, "stream") ?? false;
  const logs = queryFlag(params, "logs") ?? false;
  if (!stream && !logs) throw invalidArgument("stream", "at least one of stream and logs must be set");
  const detachKeys = params.get("detachKeys") ?? "";
  checkDetachKeys("detachKeys", detachKeys);
  return {
    ref,
    stream,
    logs,
    stdin: queryFlag(params, "stdin") ?? false,
    stdout: queryFlag(params, "stdout") ?? false,
    stderr: queryFlag(params, "stderr") ?? false,
    detachKeys,
  };
}

/**
 * Events: each filter entry (a type hulld emits, a container or image
 * reference) and the time window. Which container or image a reference
 * means is src/service/event-filter.ts's to look up.
 */
export function validateEventsRequest(req: EventsRequest): void {
  rejectUndecodable(req);
  checkCount("containers", req.containers, MAX_FILTER_ENTRIES);
  req.containers.forEach((ref, i) => checkContainerRef(`containers[${i}]`, ref));
  checkCount("types", req.types, MAX_FILTER_ENTRIES);
  req.types.forEach((t, i) => {
    if (t === "") throw invalidArgument(`types[${i}]`, "empty");
    checkText(`types[${i}]`, t, MAX_EVENT_TYPE_LENGTH);
    if (!KNOWN_EVENT_TYPES.has(t)) throw invalidArgument(`types[${i}]`, `${shown(t)} is not an event type (known: ${EVENT_TYPES.join(", ")})`);
  });
  checkCount("images", req.images, MAX_FILTER_ENTRIES);
  req.images.forEach((ref, i) => checkImageRef(`images[${i}]`, ref));
  checkTimestamp("since", req.since);
  checkTimestamp("until", req.until);
  if (req.since && req.until && req.until.getTime() < req.since.getTime()) {
    throw invalidArgument("until", `${req.until.toISOString()} is before since (${req.since.toISOString()})`);
  }
}

/**
 * Every unary and server-streaming RPC's validator by method name (bidi
 * streams validate their first message: parseAttachOpen, validateExecOpen).
 */
export const CONTAINER_SERVICE_VALIDATORS = {
  CreateContainer: validateCreateRequest,
  InitContainer: validateInitRequest,
  StartContainer: validateStartRequest,
  ResizeTerminal: validateResizeRequest,
  RestartContainer: validateRestartRequest,
  StopContainer: validateStopRequest,
  KillContainer: validateKillRequest,
  PauseContainer: validatePauseRequest,
  UnpauseContainer: validateUnpauseRequest,
  MountContainer: validateMountRequest,
  UnmountContainer: validateUnmountRequest,
  ExportContainer: validateExportRequest,
  PutArtifact: validatePutArtifactRequest,
  GetArtifact: validateGetArtifactRequest,
  DeleteArtifact: validateDeleteArtifactRequest,
  ListArtifacts: validateListArtifactsRequest,
  WaitContainer: validateWaitRequest,
  CleanupContainer: validateCleanupRequest,
  SyncContainer: validateSyncRequest,
  Batch: validateBatchRequest,
  CheckpointContainer: validateCheckpointRequest,
  RestoreContainer: validateRestoreRequest,
  RemoveContainer: validateRemoveRequest,
  InspectContainer: validateInspectRequest,
  ListContainers: validateListRequest,
  ContainerLogs: validateLogsRequest,
  ExecSync: validateExecSyncRequest,
  Events: validateEventsRequest,
} as const;
