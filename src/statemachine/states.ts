// The container state machine: which operations each state accepts, and the
// refusal each other state gets. Pure: no I/O, no clock. Every RPC asks
// checkOperation() before it acts, so this table is the single source of
// truth for "can I do X now?" (libpod's ensureState calls, plus STOPPING).

import { ContainerState } from "../gen/hull/v1/container.js";
import { HullError, type ErrorReason } from "../errors.js";

export { ContainerState };

export const Operation = {
  Init: "init",
  Start: "start",
  Stop: "stop",
  Kill: "kill",
  Pause: "pause",
  Unpause: "unpause",
  Restart: "restart",
  Wait: "wait",
  Cleanup: "cleanup",
  Sync: "sync",
  Remove: "remove",
  ForceRemove: "force-remove",
  Mount: "mount",
  Unmount: "unmount",
  Attach: "attach",
  Resize: "resize",
  Exec: "exec",
  Export: "export",
  Checkpoint: "checkpoint",
  Restore: "restore",
  Artifact: "artifact",
  Inspect: "inspect",
  Update: "update",
  ReopenLog: "reopen-log",
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

export const ALL_OPERATIONS: readonly Operation[] = Object.values(Operation);

const S = ContainerState;

/** The states a container can really be in (UNSPECIFIED is never stored). */
export const ALL_STATES: readonly ContainerState[] = [
  S.CONTAINER_STATE_CONFIGURED,
  S.CONTAINER_STATE_CREATED,
  S.CONTAINER_STATE_RUNNING,
  S.CONTAINER_STATE_PAUSED,
  S.CONTAINER_STATE_STOPPING,
  S.CONTAINER_STATE_STOPPED,
  S.CONTAINER_STATE_EXITED,
  S.CONTAINER_STATE_REMOVING,
  S.CONTAINER_STATE_UNKNOWN,
];

const EVERY_STATE_BUT_REMOVING = ALL_STATES.filter((s) => s !== S.CONTAINER_STATE_REMOVING);

interface Rule {
  /** States in which the operation acts. */
  accepts: readonly ContainerState[];
  /** States in which the operation succeeds without doing anything. */
  noop?: readonly ContainerState[];
  /** States refused with a reason other than CONTAINER_STATE_INVALID. */
  special?: Partial<Record<ContainerState, ErrorReason>>;
  /** How the refusal reads, after "container X is STATE: ". */
  refusal: string;
}

export const TRANSITIONS: Readonly<Record<Operation, Rule>> = {
  init: {
    accepts: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED],
    refusal: "it has already been created in the runtime",
  },
  start: {
    accepts: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED],
    noop: [S.CONTAINER_STATE_RUNNING],
    refusal: "it must be configured, created, stopped or exited to be started",
  },
  stop: {
    accepts: [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING],
    special: {
      [S.CONTAINER_STATE_STOPPED]: "CONTAINER_ALREADY_STOPPED",
      [S.CONTAINER_STATE_EXITED]: "CONTAINER_ALREADY_STOPPED",
    },
    refusal: "only created, running, paused or stopping containers can be stopped",
  },
  kill: {
    accepts: [S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING],
    refusal: "only running, paused or stopping containers can be killed",
  },
  pause: {
    accepts: [S.CONTAINER_STATE_RUNNING],
    refusal: "only running containers can be paused",
  },
  unpause: {
    accepts: [S.CONTAINER_STATE_PAUSED],
    refusal: "only paused containers can be unpaused",
  },
  restart: {
    accepts: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED],
    refusal: "a paused, stopping, removing or unknown container cannot be restarted",
  },
  wait: { accepts: EVERY_STATE_BUT_REMOVING, refusal: "it is being removed" },
  cleanup: {
    // UNKNOWN is accepted so a container the runtime confused can be torn down.
    accepts: [S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_STOPPING, S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_UNKNOWN],
    noop: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_EXITED],
    refusal: "running or paused containers cannot be cleaned up",
  },
  sync: { accepts: ALL_STATES, refusal: "" },
  remove: {
    accepts: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_STOPPED, S.CONTAINER_STATE_EXITED, S.CONTAINER_STATE_UNKNOWN],
    refusal: "running, paused or stopping containers cannot be removed without force",
  },
  "force-remove": { accepts: EVERY_STATE_BUT_REMOVING, refusal: "it is already being removed" },
  mount: { accepts: EVERY_STATE_BUT_REMOVING, refusal: "it is being removed" },
  unmount: { accepts: EVERY_STATE_BUT_REMOVING, refusal: "it is being removed" },
  attach: {
    accepts: [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING],
    refusal: "only created or running containers can be attached to",
  },
  resize: {
    accepts: [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING],
    refusal: "only created or running containers can be resized",
  },
  exec: { accepts: [S.CONTAINER_STATE_RUNNING], refusal: "only running containers can run exec sessions" },
  export: { accepts: EVERY_STATE_BUT_REMOVING, refusal: "it is being removed" },
  checkpoint: { accepts: [S.CONTAINER_STATE_RUNNING], refusal: "only running containers can be checkpointed" },
  restore: {
    accepts: [S.CONTAINER_STATE_CONFIGURED, S.CONTAINER_STATE_EXITED],
    refusal: "only configured or exited containers can be restored",
  },
  artifact: { accepts: EVERY_STATE_BUT_REMOVING, refusal: "it is being removed" },
  inspect: { accepts: ALL_STATES, refusal: "" },
  // Limits are saved in any settled state; a live cgroup (created, running, paused) is changed too (runc update).
  update: {
    accepts: [
      S.CONTAINER_STATE_CONFIGURED,
      S.CONTAINER_STATE_CREATED,
      S.CONTAINER_STATE_RUNNING,
      S.CONTAINER_STATE_PAUSED,
      S.CONTAINER_STATE_STOPPED,
      S.CONTAINER_STATE_EXITED,
    ],
    refusal: "a stopping, removing or unknown container's resources cannot be updated",
  },
  // Only a live monitor (conmon) holds the log file open; otherwise nothing writes to it.
  "reopen-log": {
    accepts: [S.CONTAINER_STATE_CREATED, S.CONTAINER_STATE_RUNNING, S.CONTAINER_STATE_PAUSED, S.CONTAINER_STATE_STOPPING],
    refusal: "only a created, running, paused or stopping container has a monitor writing its log",
  },
};

export type Verdict = "act" | "noop";

/** Short lower-case state name as users see it ("running", "stopped"). */
export function stateName(state: ContainerState): string {
  const name = ContainerState[state] ?? "CONTAINER_STATE_UNKNOWN";
  return String(name).replace("CONTAINER_STATE_", "").toLowerCase();
}

/** Whether an operation is allowed in a state, without throwing. */
export function verdict(state: ContainerState, op: Operation): Verdict | "refuse" {
  const rule = TRANSITIONS[op];
  if (rule.accepts.includes(state)) return "act";
  if (rule.noop?.includes(state)) return "noop";
  return "refuse";
}

/**
 * Returns "act" or "noop", or throws the refusal: a HullError naming the
 * container, its state and the states the operation accepts.
 */
export function checkOperation(containerId: string, state: ContainerState, op: Operation): Verdict {
  const v = verdict(state, op);
  if (v !== "refuse") return v;
  const rule = TRANSITIONS[op];
  const reason: ErrorReason = rule.special?.[state] ?? "CONTAINER_STATE_INVALID";
  const accepted = [...rule.accepts, ...(rule.noop ?? [])].map(stateName).join(", ");
  const short = containerId.slice(0, 12);
  const message =
    reason === "CONTAINER_ALREADY_STOPPED"
      ? `container ${short} is already stopped (state ${stateName(state)})`
      : `cannot ${op} container ${short} in state ${stateName(state)}: ${rule.refusal} (accepted: ${accepted})`;
  throw new HullError(reason, message, { container: containerId, state: stateName(state), operation: op, accepted });
}

/** States in which the container's process may have exited since the last look. */
export function mayHaveExited(state: ContainerState): boolean {
  return (
    state === S.CONTAINER_STATE_RUNNING || state === S.CONTAINER_STATE_PAUSED || state === S.CONTAINER_STATE_STOPPING || state === S.CONTAINER_STATE_CREATED
  );
}

/** States in which a runtime container (and its conmon) exists. */
export function hasRuntimeContainer(state: ContainerState): boolean {
  return mayHaveExited(state) || state === S.CONTAINER_STATE_STOPPED;
}
