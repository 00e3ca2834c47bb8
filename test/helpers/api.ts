// Promise wrappers around the generated ContainerServiceClient, plus helpers
// that decode the google.rpc.ErrorInfo detail hulld attaches to every error.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import {
  type ContainerServiceClient,
  type DeepPartial,
  type MessageFns,
  BatchRequest,
  type BatchResponse,
  CheckpointContainerRequest,
  type CheckpointContainerResponse,
  CleanupContainerRequest,
  type CleanupContainerResponse,
  CreateContainerRequest,
  type CreateContainerResponse,
  DeleteArtifactRequest,
  type DeleteArtifactResponse,
  ExecSyncRequest,
  type ExecSyncResponse,
  GetArtifactRequest,
  type GetArtifactResponse,
  InitContainerRequest,
  type InitContainerResponse,
  InspectContainerRequest,
  type InspectContainerResponse,
  KillContainerRequest,
  type KillContainerResponse,
  ListArtifactsRequest,
  type ListArtifactsResponse,
  ListContainersRequest,
  type ListContainersResponse,
  MountContainerRequest,
  type MountContainerResponse,
  PauseContainerRequest,
  type PauseContainerResponse,
  PutArtifactRequest,
  type PutArtifactResponse,
  RemoveContainerRequest,
  type RemoveContainerResponse,
  ResizeTerminalRequest,
  type ResizeTerminalResponse,
  RestartContainerRequest,
  type RestartContainerResponse,
  RestoreContainerRequest,
  type RestoreContainerResponse,
  StartContainerRequest,
  type StartContainerResponse,
  StopContainerRequest,
  type StopContainerResponse,
  SyncContainerRequest,
  type SyncContainerResponse,
  UnmountContainerRequest,
  type UnmountContainerResponse,
  UnpauseContainerRequest,
  type UnpauseContainerResponse,
  WaitContainerRequest,
  type WaitContainerResponse,
} from "../../src/gen/hull/v1/container.js";
import { Status } from "../../src/gen/google/rpc/status.js";
import { ErrorInfo } from "../../src/gen/google/rpc/error_details.js";

/** Deadline applied to every call unless the caller passes its own. */
export const DEFAULT_DEADLINE_MS = 60_000;

export interface CallOpts {
  /** Milliseconds from now; default DEFAULT_DEADLINE_MS. */
  deadlineMs?: number;
}

/** One unary RPC: takes a partial request (missing fields get proto defaults). */
export type UnaryFn<Req, Res> = (request: DeepPartial<Req>, opts?: CallOpts) => Promise<Res>;

type RawUnary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export interface Api {
  createContainer: UnaryFn<CreateContainerRequest, CreateContainerResponse>;
  initContainer: UnaryFn<InitContainerRequest, InitContainerResponse>;
  startContainer: UnaryFn<StartContainerRequest, StartContainerResponse>;
  resizeTerminal: UnaryFn<ResizeTerminalRequest, ResizeTerminalResponse>;
  restartContainer: UnaryFn<RestartContainerRequest, RestartContainerResponse>;
  stopContainer: UnaryFn<StopContainerRequest, StopContainerResponse>;
  killContainer: UnaryFn<KillContainerRequest, KillContainerResponse>;
  pauseContainer: UnaryFn<PauseContainerRequest, PauseContainerResponse>;
  unpauseContainer: UnaryFn<UnpauseContainerRequest, UnpauseContainerResponse>;
  mountContainer: UnaryFn<MountContainerRequest, MountContainerResponse>;
  unmountContainer: UnaryFn<UnmountContainerRequest, UnmountContainerResponse>;
  putArtifact: UnaryFn<PutArtifactRequest, PutArtifactResponse>;
  getArtifact: UnaryFn<GetArtifactRequest, GetArtifactResponse>;
  deleteArtifact: UnaryFn<DeleteArtifactRequest, DeleteArtifactResponse>;
  listArtifacts: UnaryFn<ListArtifactsRequest, ListArtifactsResponse>;
  waitContainer: UnaryFn<WaitContainerRequest, WaitContainerResponse>;
  cleanupContainer: UnaryFn<CleanupContainerRequest, CleanupContainerResponse>;
  syncContainer: UnaryFn<SyncContainerRequest, SyncContainerResponse>;
  batch: UnaryFn<BatchRequest, BatchResponse>;
  checkpointContainer: UnaryFn<CheckpointContainerRequest, CheckpointContainerResponse>;
  restoreContainer: UnaryFn<RestoreContainerRequest, RestoreContainerResponse>;
  removeContainer: UnaryFn<RemoveContainerRequest, RemoveContainerResponse>;
  inspectContainer: UnaryFn<InspectContainerRequest, InspectContainerResponse>;
  listContainers: UnaryFn<ListContainersRequest, ListContainersResponse>;
  execSync: UnaryFn<ExecSyncRequest, ExecSyncResponse>;
}

function wrap<Req, Res>(fns: MessageFns<Req>, raw: RawUnary<Req, Res>): UnaryFn<Req, Res> {
  return (request, opts) =>
    new Promise<Res>((resolve, reject) => {
      const full = fns.fromPartial(request as Parameters<MessageFns<Req>["fromPartial"]>[0]);
      const deadline = new Date(Date.now() + (opts?.deadlineMs ?? DEFAULT_DEADLINE_MS));
      raw(full, new grpc.Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
    });
}

export function makeApi(c: ContainerServiceClient): Api {
  return {
    createContainer: wrap(CreateContainerRequest, (r, m, o, cb) => c.createContainer(r, m, o, cb)),
    initContainer: wrap(InitContainerRequest, (r, m, o, cb) => c.initContainer(r, m, o, cb)),
    startContainer: wrap(StartContainerRequest, (r, m, o, cb) => c.startContainer(r, m, o, cb)),
    resizeTerminal: wrap(ResizeTerminalRequest, (r, m, o, cb) => c.resizeTerminal(r, m, o, cb)),
    restartContainer: wrap(RestartContainerRequest, (r, m, o, cb) => c.restartContainer(r, m, o, cb)),
    stopContainer: wrap(StopContainerRequest, (r, m, o, cb) => c.stopContainer(r, m, o, cb)),
    killContainer: wrap(KillContainerRequest, (r, m, o, cb) => c.killContainer(r, m, o, cb)),
    pauseContainer: wrap(PauseContainerRequest, (r, m, o, cb) => c.pauseContainer(r, m, o, cb)),
    unpauseContainer: wrap(UnpauseContainerRequest, (r, m, o, cb) => c.unpauseContainer(r, m, o, cb)),
    mountContainer: wrap(MountContainerRequest, (r, m, o, cb) => c.mountContainer(r, m, o, cb)),
    unmountContainer: wrap(UnmountContainerRequest, (r, m, o, cb) => c.unmountContainer(r, m, o, cb)),
    putArtifact: wrap(PutArtifactRequest, (r, m, o, cb) => c.putArtifact(r, m, o, cb)),
    getArtifact: wrap(GetArtifactRequest, (r, m, o, cb) => c.getArtifact(r, m, o, cb)),
    deleteArtifact: wrap(DeleteArtifactRequest, (r, m, o, cb) => c.deleteArtifact(r, m, o, cb)),
    listArtifacts: wrap(ListArtifactsRequest, (r, m, o, cb) => c.listArtifacts(r, m, o, cb)),
    waitContainer: wrap(WaitContainerRequest, (r, m, o, cb) => c.waitContainer(r, m, o, cb)),
    cleanupContainer: wrap(CleanupContainerRequest, (r, m, o, cb) => c.cleanupContainer(r, m, o, cb)),
    syncContainer: wrap(SyncContainerRequest, (r, m, o, cb) => c.syncContainer(r, m, o, cb)),
    batch: wrap(BatchRequest, (r, m, o, cb) => c.batch(r, m, o, cb)),
    checkpointContainer: wrap(CheckpointContainerRequest, (r, m, o, cb) => c.checkpointContainer(r, m, o, cb)),
    restoreContainer: wrap(RestoreContainerRequest, (r, m, o, cb) => c.restoreContainer(r, m, o, cb)),
    removeContainer: wrap(RemoveContainerRequest, (r, m, o, cb) => c.removeContainer(r, m, o, cb)),
    inspectContainer: wrap(InspectContainerRequest, (r, m, o, cb) => c.inspectContainer(r, m, o, cb)),
    listContainers: wrap(ListContainersRequest, (r, m, o, cb) => c.listContainers(r, m, o, cb)),
    execSync: wrap(ExecSyncRequest, (r, m, o, cb) => c.execSync(r, m, o, cb)),
  };
}

export const ERROR_INFO_TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo";

export interface DecodedError {
  code: number;
  reason: string;
  message: string;
  metadata: Record<string, string>;
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === "number";
}

/** The reason in a google.rpc.Status's first ErrorInfo detail ("" when there is none). */
export function statusReason(status: Status | undefined): string {
  return errorInfoOfStatus(status)?.reason ?? "";
}

function errorInfoOfStatus(status: Status | undefined): ErrorInfo | undefined {
  const detail = status?.details.find((d) => d.typeUrl === ERROR_INFO_TYPE_URL);
  return detail ? ErrorInfo.decode(detail.value) : undefined;
}

/** Decodes a gRPC error: status code, ErrorInfo reason (from grpc-status-details-bin) and message. */
export function errorInfo(err: unknown): DecodedError {
  if (!isServiceError(err)) {
    throw new Error(`not a gRPC error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  let info: ErrorInfo | undefined;
  if (raw !== undefined) {
    const bytes = typeof raw === "string" ? Buffer.from(raw, "base64") : raw;
    const status = Status.decode(bytes);
    const first = status.details[0];
    assert.ok(first, `grpc-status-details-bin holds no details (${err.details})`);
    assert.equal(first.typeUrl, ERROR_INFO_TYPE_URL, "details[0] must be a google.rpc.ErrorInfo");
    info = ErrorInfo.decode(first.value);
  }
  return { code: err.code, reason: info?.reason ?? "", message: err.details, metadata: info?.metadata ?? {} };
}

function describeCode(code: number): string {
  return `${grpc.status[code] ?? "?"}(${code})`;
}

/**
 * Awaits `promise`, which must reject with a gRPC error of `code` whose
 * ErrorInfo reason is `reason` (and whose message contains `messageIncludes`).
 */
export async function assertGrpcError(
  promise: Promise<unknown>,
  code: grpc.status,
  reason: string,
  messageIncludes?: string | readonly string[],
): Promise<DecodedError> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    const e = errorInfo(err);
    const what = `${describeCode(e.code)} ${e.reason}: ${e.message}`;
    assert.equal(e.code, code, `expected ${describeCode(code)} ${reason}, got ${what}`);
    assert.equal(e.reason, reason, `expected reason ${reason}, got ${what}`);
    const parts = messageIncludes === undefined ? [] : typeof messageIncludes === "string" ? [messageIncludes] : messageIncludes;
    for (const part of parts) {
      assert.ok(e.message.includes(part), `expected the message to include ${JSON.stringify(part)}, got ${what}`);
    }
    return e;
  }
  assert.fail(`expected ${describeCode(code)} ${reason}, but the call succeeded: ${JSON.stringify(result)}`);
}

/** Awaits `promise`, which must reject; returns the decoded error whatever it is. */
export async function rejection(promise: Promise<unknown>): Promise<DecodedError> {
  try {
    const result = await promise;
    assert.fail(`expected the call to fail, but it succeeded: ${JSON.stringify(result)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return errorInfo(err);
  }
}
