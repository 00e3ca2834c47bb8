// Checks a container's Events stream against the state table
// (src/statemachine/states.ts): each event's operation must be one the table
// lets act in the state before it, and leave the state it should; a run's
// exit must be recorded before its runtime container is replaced or removed.
import type { Event } from "../../src/gen/hull/v1/container.js";
import { ALL_STATES, verdict, mayHaveExited, type Operation } from "../../src/statemachine/states.js";
import { S, stateLabel } from "../helpers/fixtures.js";

/** Event type → the table's operation, and the state the event must carry (undefined: unchanged). */
const EVENT_RULES: Readonly<Record<string, { op: Operation; result?: number }>> = {
  init: { op: "init", result: S.CONTAINER_STATE_CREATED },
  start: { op: "start", result: S.CONTAINER_STATE_RUNNING },
  stop: { op: "stop", result: S.CONTAINER_STATE_STOPPING },
  kill: { op: "kill" },
  pause: { op: "pause", result: S.CONTAINER_STATE_PAUSED },
  unpause: { op: "unpause", result: S.CONTAINER_STATE_RUNNING },
  cleanup: { op: "cleanup", result: S.CONTAINER_STATE_EXITED },
  remove: { op: "force-remove", result: S.CONTAINER_STATE_REMOVING },
  mount: { op: "mount" },
  unmount: { op: "unmount" },
  exec_start: { op: "exec" },
  sync: { op: "sync" },
};

/** Checks each container's events against the table; returns the problems. */
export function checkTransitions(events: Event[]): string[] {
  const problems: string[] = [];
  const byId = new Map<string, Event[]>();
  for (const ev of events) if (ev.containerId) byId.set(ev.containerId, [...(byId.get(ev.containerId) ?? []), ev]);
  for (const [id, evs] of byId) {
    evs.sort((a, b) => a.sequence - b.sequence);
    const short = `${evs[0]?.containerName ?? "?"}/${id.slice(0, 12)}`;
    let prev: number | undefined;
    let ranSinceInit = false;
    for (const ev of evs) {
      const where = `${short} #${ev.sequence} ${ev.type}`;
      if (!ALL_STATES.includes(ev.state)) problems.push(`${where}: state ${stateLabel(ev.state)} is not a table state`);
      if (ev.type === "create") {
        if (prev !== undefined) problems.push(`${where}: create after other events of the container`);
        if (ev.state !== S.CONTAINER_STATE_CONFIGURED) problems.push(`${where}: created in state ${stateLabel(ev.state)}`);
      } else if (prev === undefined) {
        // The stream started while the container existed: take its state as given.
      } else if (ev.type === "exit") {
        if (!mayHaveExited(prev)) problems.push(`${where}: exit from ${stateLabel(prev)}, a state with no process`);
        if (ev.state !== S.CONTAINER_STATE_STOPPED) problems.push(`${where}: exit leaves ${stateLabel(ev.state)}, not STOPPED`);
        ranSinceInit = false;
      } else if (ev.type === "restart") {
        if (prev !== S.CONTAINER_STATE_RUNNING || ev.state !== S.CONTAINER_STATE_RUNNING)
          problems.push(`${where}: restart reported ${stateLabel(prev)} → ${stateLabel(ev.state)}`);
      } else if (ev.type === "exec_exit") {
        if (ev.state === S.CONTAINER_STATE_REMOVING) problems.push(`${where}: exec_exit in REMOVING`);
      } else {
        const rule = EVENT_RULES[ev.type];
        if (!rule) {
          problems.push(`${where}: unexpected event type`);
        } else {
          if (verdict(prev, rule.op) !== "act") problems.push(`${where}: ${rule.op} acted in ${stateLabel(prev)}, which the table refuses`);
          // runc's kill --all thaws a paused container's cgroup.
          const thawed = ev.type === "kill" && prev === S.CONTAINER_STATE_PAUSED && ev.state === S.CONTAINER_STATE_RUNNING;
          const expected = thawed ? ev.state : (rule.result ?? prev);
          if (ev.type !== "sync" && ev.state !== expected)
            problems.push(`${where}: ${stateLabel(prev)} → ${stateLabel(ev.state)}, expected ${stateLabel(expected)}`);
          if (ev.type === "sync" && ev.attributes.runtimeStatus === "missing")
            problems.push(`${where}: sync found the runtime container gone: its exit was lost`);
        }
      }
      // A process that ran must have its exit recorded before its runtime container is replaced or removed.
      if (ev.type === "start") ranSinceInit = true;
      if ((ev.type === "init" || ev.type === "remove") && ranSinceInit && prev !== undefined) {
        const trail = evs
          .filter((e) => e.sequence <= ev.sequence)
          .slice(-8)
          .map((e) => `${e.type}:${stateLabel(e.state).replace("CONTAINER_STATE_", "")}`);
        problems.push(`${where}: the previous run's exit was never recorded (${trail.join(" ")})`);
      }
      if (ev.type === "init") ranSinceInit = false;
      prev = ev.state;
    }
  }
  return problems;
}
