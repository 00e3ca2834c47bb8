// The one mapping from domain errors to gRPC status codes. Every error a
// client sees passes through toServiceError(), which adds a google.rpc.Status
// with an ErrorInfo detail (stable `reason`) as grpc-status-details-bin.
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Status } from "../gen/google/rpc/status.js";
import { ErrorInfo } from "../gen/google/rpc/error_details.js";
import { HullError, type ErrorReason } from "../errors.js";

export const ERROR_DOMAIN = "hull.dev";

export const STATUS_OF_REASON: Readonly<Record<ErrorReason, status>> = {
  CONTAINER_NOT_FOUND: status.NOT_FOUND,
  IMAGE_NOT_FOUND: status.NOT_FOUND,
  POD_NOT_FOUND: status.NOT_FOUND,
  ARTIFACT_NOT_FOUND: status.NOT_FOUND,
  NAME_IN_USE: status.ALREADY_EXISTS,
  CONTAINER_STATE_INVALID: status.FAILED_PRECONDITION,
  CONTAINER_ALREADY_STOPPED: status.FAILED_PRECONDITION,
  DEPENDENCY_NOT_RUNNING: status.FAILED_PRECONDITION,
  CONTAINER_HAS_DEPENDENTS: status.FAILED_PRECONDITION,
  EXEC_SESSIONS_ACTIVE: status.FAILED_PRECONDITION,
  CHECKPOINT_UNSUPPORTED: status.FAILED_PRECONDITION,
  HOST_UNSUPPORTED: status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  AMBIGUOUS_ID: status.INVALID_ARGUMENT,
  RUNTIME_ERROR: status.INTERNAL,
  INTERNAL: status.INTERNAL,
  NOT_IMPLEMENTED: status.UNIMPLEMENTED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  UNAVAILABLE: status.UNAVAILABLE,
  REGISTRY_AUTH_FAILED: status.UNAUTHENTICATED,
  REGISTRY_BLOCKED: status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  DATA_CORRUPT: status.DATA_LOSS,
};

const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";

export function asHullError(err: unknown): HullError {
  if (err instanceof HullError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HullError("INTERNAL", message, {}, { cause: err });
}

/** Longest message and metadata value sent: trailers are HTTP/2 headers, and one that echoes a 1 MiB input wedges the client's connection. */
const MAX_MESSAGE = 2048;
const MAX_METADATA_VALUE = 512;

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

/** The google.rpc.Status for an error, as Batch results and trailers carry it. */
export function toRpcStatus(err: unknown): Status {
  const e = asHullError(err);
  const metadata = Object.fromEntries(Object.entries(e.metadata).map(([k, v]) => [cut(k, MAX_METADATA_VALUE), cut(v, MAX_METADATA_VALUE)]));
  const info = ErrorInfo.encode({ reason: e.reason, domain: ERROR_DOMAIN, metadata }).finish();
  return { code: STATUS_OF_REASON[e.reason], message: cut(e.message, MAX_MESSAGE), details: [{ typeUrl: ERROR_INFO_TYPE, value: Buffer.from(info) }] };
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  const rpcStatus = toRpcStatus(err);
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(Status.encode(rpcStatus).finish()));
  return { code: rpcStatus.code, details: rpcStatus.message, metadata };
}

/** Decodes the ErrorInfo reason from a ServiceError's trailers (for clients: CLI, tests). */
export function reasonOf(err: { metadata?: Metadata }): string | undefined {
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  if (!(raw instanceof Buffer)) return undefined;
  const decoded = Status.decode(raw);
  const detail = decoded.details.find((d) => d.typeUrl === ERROR_INFO_TYPE);
  return detail ? ErrorInfo.decode(detail.value).reason : undefined;
}
