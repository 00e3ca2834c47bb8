// Tracing and error helpers shared by the state store.
import type { Span } from "@opentelemetry/api";
import { inSpan } from "../tracing.js";
import { HullError, wrapError } from "../errors.js";

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs fn in an active span that is ended on every path and marks failures. */
export function traced<T>(name: string, containerId: string | undefined, fn: (span: Span) => Promise<T>): Promise<T> {
  return inSpan(name, containerId ? { "hull.container.id": containerId } : {}, fn);
}

/**
 * HullErrors raised by the store already say what went wrong in client
 * terms, so they pass unchanged; anything else (LevelDB, encoding) becomes
 * INTERNAL with what was being done and to which container.
 */
export function wrap(err: unknown, doing: string, containerId?: string): HullError {
  if (err instanceof HullError) return err;
  if (containerId) return wrapError(err, containerId, doing);
  return new HullError("INTERNAL", `${doing}: ${describe(err)}`, {}, { cause: err });
}

/**
 * LevelDB reports a held LOCK as LEVEL_DATABASE_NOT_OPEN whose cause is
 * LEVEL_LOCKED ("IO error: lock …/LOCK: Resource temporarily unavailable"
 * from another process, "already held by process" from this one).
 */
export function isLockHeld(err: unknown): boolean {
  if (!(err instanceof Error) || codeOf(err) !== "LEVEL_DATABASE_NOT_OPEN") return false;
  const cause = err.cause;
  if (!(cause instanceof Error)) return false;
  return codeOf(cause) === "LEVEL_LOCKED" || /\block\b/i.test(cause.message);
}

function codeOf(err: Error): unknown {
  return "code" in err ? err.code : undefined;
}
