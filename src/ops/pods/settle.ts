// Steps of one pod operation run side by side, each to its end before the
// operation's outcome is known, so an undo or a retry finds whatever each
// step did. The first failure (in the order given) is the operation's
// error; any other is logged with the pod's id, never dropped.
import type { Engine } from "../../engine/engine.js";

export async function allSettledOrThrow<T extends readonly unknown[]>(
  engine: Engine,
  podId: string,
  what: string,
  steps: { readonly [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const results = await Promise.allSettled(steps);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  for (const extra of failed.slice(1)) engine.log.error({ pod: podId, err: extra.reason }, `${what}: another step failed too`);
  if (failed[0] !== undefined) throw failed[0].reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
