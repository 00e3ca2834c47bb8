import type { ContainerConfig } from "../gen/hull/v1/container.js";
import { ContainerState } from "../gen/hull/v1/container.js";

export { ContainerState };

/** One exec session of a container, as recorded in the store. */
export interface ExecSessionRecord {
  id: string;
  command: string[];
  running: boolean;
  exitCode: number;
  pid: number;
}

/**
 * A container as kept in the state store: its config (as created) and its
 * lifecycle state. Times are ISO-8601 strings; "" means never.
 */
export interface ContainerRecord {
  id: string;
  name: string;
  state: ContainerState;
  config: ContainerConfig;
  dependencyIds: string[];
  exitCode: number;
  exitSignal: number;
  pid: number;
  conmonPid: number;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
  stoppedByUser: boolean;
  stateReason: string;
  oomKilled: boolean;
  mountCount: number;
  /** Host path of the root filesystem the runtime uses. */
  rootfs: string;
  bundlePath: string;
  logPath: string;
  execSessions: ExecSessionRecord[];
  /** The image ("sha256:...") the root filesystem is built from; absent for rootfs_path containers. */
  imageId?: string;
  /** Bumped on every save; lets readers notice a concurrent change. */
  revision: number;
}

/**
 * A write-ahead note that an operation spanning the store and the runtime
 * has begun (stored under intent/<id>, beside the record). Written before the
 * runtime is touched and cleared in the same batch as the operation's final
 * save, so a hulld that finds one at start knows the operation was cut short.
 */
export interface OperationIntent {
  /** init: conmon/runc create under way; stop: a stop is waiting to escalate; remove: removal under way. */
  op: "init" | "stop" | "remove";
  /** ISO-8601 time the operation began. */
  startedAt: string;
  /** stop only: ISO-8601 time at which SIGKILL is due ("" = never recorded). */
  killAt?: string;
}
