// libpod's restart policies, decided from the record alone: whether a
// container that just exited starts again.
import type { ContainerRecord } from "../store/record.js";

export function shouldRestart(rec: Pick<ContainerRecord, "stoppedByUser" | "config" | "exitCode" | "restartCount">): boolean {
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
