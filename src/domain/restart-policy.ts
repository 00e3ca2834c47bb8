// libpod's restart policies, decided from the record alone: whether a
// container that just exited starts again.
import type { RestartPolicy } from "../gen/hull/v1/container.js";

/** What the decision reads of a container's record. */
export interface RestartFacts {
  stoppedByUser: boolean;
  config: { restartPolicy?: RestartPolicy | undefined };
  exitCode: number;
  restartCount: number;
}

export function shouldRestart(rec: RestartFacts): boolean {
  // A stop or kill by the user is never undone by a policy (Docker's and Podman's rule).
  if (rec.stoppedByUser) return false;
  const policy = rec.config.restartPolicy?.name ?? "";
  switch (policy) {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure": {
      const max = rec.config.restartPolicy?.maxRetries ?? 0;
      return rec.exitCode !== 0 && (max === 0 || rec.restartCount < max);
    }
    default:
      return false;
  }
}
