// Where hulld keeps what, under its state root and run root.
import { join } from "node:path";

export interface EnginePaths {
  /** State root: the store and per-container persistent dirs (logs, artifacts). */
  root: string;
  /** Run root: bundles, exit files, sockets, the runtime's own state. */
  runRoot: string;
  exitDir: string;
  persistDir: string;
  bundlesDir: string;
  socketDir: string;
  containersDir: string;
  runtimeRoot: string;
  /** Per pod: its hostname, hosts and resolv.conf (under the state root, so they survive a reboot of hulld). */
  podsDir: string;
  /** Per pod: its pinned namespace files (under the run root: namespaces die with the host). */
  podNamespacesDir: string;
}

export function enginePaths(root: string, runRoot: string): EnginePaths {
  return {
    root,
    runRoot,
    exitDir: join(runRoot, "exits"),
    persistDir: join(runRoot, "persist"),
    bundlesDir: join(runRoot, "bundles"),
    // conmon puts attach sockets under this dir: keep it short (108-byte sun_path).
    socketDir: join(runRoot, "s"),
    containersDir: join(root, "containers"),
    runtimeRoot: join(runRoot, "runc"),
    podsDir: join(root, "pods"),
    podNamespacesDir: join(runRoot, "pods"),
  };
}
