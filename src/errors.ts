// Domain errors. Every failure that reaches a client is one of these; the
// mapping to gRPC status codes lives in src/service/status.ts alone.

export type ErrorReason =
  | "CONTAINER_NOT_FOUND"
  | "IMAGE_NOT_FOUND"
  | "POD_NOT_FOUND"
  | "ARTIFACT_NOT_FOUND"
  | "NAME_IN_USE"
  | "CONTAINER_STATE_INVALID"
  | "CONTAINER_ALREADY_STOPPED"
  | "DEPENDENCY_NOT_RUNNING"
  | "CONTAINER_HAS_DEPENDENTS"
  | "EXEC_SESSIONS_ACTIVE"
  | "CHECKPOINT_UNSUPPORTED"
  // The host lacks what the request needs (a kernel without user namespaces).
  | "HOST_UNSUPPORTED"
  | "INVALID_ARGUMENT"
  | "AMBIGUOUS_ID"
  | "RUNTIME_ERROR"
  | "INTERNAL"
  | "NOT_IMPLEMENTED"
  | "DEADLINE_EXCEEDED"
  | "UNAVAILABLE"
  // Bytes that fail their own digest or size (a corrupted blob in a registry or an image layout): the request was
  // fine, the data was not.
  | "DATA_CORRUPT"
  // A registry refused the credentials (or wanted some and none were given).
  | "REGISTRY_AUTH_FAILED"
  // The registries config blocks pulls from that registry.
  | "REGISTRY_BLOCKED"
  // A stream's client fell too far behind; its stream was ended to bound memory.
  // Also a per-container quota reached (the artifact count).
  | "RESOURCE_EXHAUSTED";

export class HullError extends Error {
  readonly reason: ErrorReason;
  readonly metadata: Record<string, string>;

  constructor(reason: ErrorReason, message: string, metadata: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HullError";
    this.reason = reason;
    this.metadata = metadata;
  }
}

/** A short printable form of a value for refusal messages: JSON-quoted, cut at 60 characters. */
export function shown(value: string): string {
  const cut = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  const quoted = JSON.stringify(cut);
  return value.length > 60 ? `${quoted} (${Buffer.byteLength(value)} bytes)` : quoted;
}

export function invalidArgument(field: string, message: string): HullError {
  return new HullError("INVALID_ARGUMENT", `invalid ${field}: ${message}`, { field });
}

export function containerNotFound(ref: string): HullError {
  return new HullError("CONTAINER_NOT_FOUND", `no container with name or id "${ref}" found`, { container: ref });
}

/**
 * Wraps any error with the container and operation it happened in, keeping a
 * HullError's reason so the client still gets the right status code.
 */
export function wrapError(err: unknown, containerId: string, operation: string, kind: "container" | "pod sandbox" = "container"): HullError {
  const short = containerId.slice(0, 12);
  const key = kind === "container" ? "container" : "pod";
  if (err instanceof HullError) {
    if (err.message.includes(short) || err.message.includes(containerId)) return err;
    return new HullError(err.reason, `${operation} ${kind} ${short}: ${err.message}`, { ...err.metadata, [key]: containerId }, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new HullError("INTERNAL", `${operation} ${kind} ${short}: ${message}`, { [key]: containerId }, { cause: err });
}
