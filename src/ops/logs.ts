// ContainerLogs (libpod's GetContainerLogs): the container's log (conmon's
// k8s-file), with follow, tail, since/until and stream selection, as
// `podman logs` / `docker logs`.
//
// Choices:
// - Stream selection, since and until apply first; `tail: N` then gives the
//   last N of the lines that remain (a P run with its F end is one line), so
//   `--tail 5` of stderr gives five stderr lines.
// - since/until are inclusive and compare at millisecond precision.
// - follow ends once the container is no longer created/running/paused/
//   stopping (an exit, or never started) or is removed, after the file has
//   been read to its end again (src/oci/logfile.ts explains why that is
//   complete). With `until`, it also ends shortly after that time passes.
// - A container whose log does not exist (never started) has no lines.
import { ContainerState } from "../store/record.js";
import { wrapError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { queryLogBatches, type LogEntry, type RawRecords } from "../oci/logfile.js";
import { STDERR, STDOUT, type StreamCode } from "../oci/logline.js";

const S = ContainerState;

/** Lines past `until` may still be on their way to the file when the clock passes it. */
const UNTIL_GRACE_MS = 250;

/** States in which conmon may still write to the log. */
const WRITING: ReadonlySet<ContainerState> = new Set([
  S.CONTAINER_STATE_CREATED,
  S.CONTAINER_STATE_RUNNING,
  S.CONTAINER_STATE_PAUSED,
  S.CONTAINER_STATE_STOPPING,
  S.CONTAINER_STATE_UNKNOWN,
  // Removal stops the container first; the follow ends when it is gone.
  S.CONTAINER_STATE_REMOVING,
]);

export interface LogQuery {
  follow: boolean;
  /** The last N lines only; undefined: every line. */
  tail?: number | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Neither: both. */
  stdout: boolean;
  stderr: boolean;
}

/** The query's stream and since/until test on a record's stream and time (ms), without a LogEntry. */
export function recordFilter(q: LogQuery): (stream: StreamCode, timeMs: number) => boolean {
  const both = !q.stdout && !q.stderr;
  const since = q.since?.getTime();
  const until = q.until?.getTime();
  return (stream, t) => {
    if (!both && !(stream === STDOUT ? q.stdout : q.stderr)) return false;
    return (since === undefined || t >= since) && (until === undefined || t <= until);
  };
}

function selector(q: LogQuery): (e: LogEntry) => boolean {
  const accept = recordFilter(q);
  return (e) => accept(e.stream === "stdout" ? STDOUT : STDERR, e.time.getTime());
}

/** A promise that resolves (true) once, from the first of several causes. */
class Latch {
  readonly promise: Promise<boolean>;
  private resolve: (v: boolean) => void = () => undefined;

  constructor() {
    this.promise = new Promise<boolean>((r) => (this.resolve = r));
  }

  fire(): void {
    this.resolve(true);
  }
}

/**
 * The container's log lines in batches (one file read each), read until the
 * end or, when following, until the container stops writing. Errors come out
 * wrapped with the container's id. With `records` (no tail) every record goes
 * to its visitor instead and the batches are empty, one per read: the
 * visitor applies recordFilter itself.
 */
export async function* containerLogs(
  engine: Engine,
  ref: string,
  q: LogQuery,
  signal: AbortSignal,
  onResolved: (id: string) => void = () => undefined,
  records?: RawRecords,
): AsyncGenerator<LogEntry[]> {
  const id = await engine.resolve(ref);
  onResolved(id);
  const finished = new Latch();
  // Subscribe before looking at the state, so an exit in between is not missed.
  const unsubscribe = engine.bus.subscribe(
    id,
    (rec) => {
      if (!WRITING.has(rec.state)) finished.fire();
    },
    () => finished.fire(),
  );
  let untilTimer: NodeJS.Timeout | undefined;
  try {
    const rec = await engine.withLock(id, "logs", async (r) => r);
    if (!WRITING.has(rec.state)) finished.fire();
    if (q.follow && q.until) {
      untilTimer = setTimeout(() => finished.fire(), Math.max(0, q.until.getTime() - Date.now()) + UNTIL_GRACE_MS);
    }
    if (records && q.tail !== undefined) throw new Error("containerLogs: records cannot be tailed (tail needs LogEntries)");
    yield* queryLogBatches(rec.logPath, {
      follow: q.follow,
      signal,
      untilDone: () => finished.promise,
      ...(records ? { records } : { select: selector(q), tail: q.tail }),
    });
  } catch (err) {
    throw wrapError(err, id, "logs");
  } finally {
    clearTimeout(untilTimer);
    unsubscribe();
  }
}
