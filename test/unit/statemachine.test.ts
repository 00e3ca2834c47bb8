// Pure tests of the container state table (src/statemachine/states.ts)
// against an independent expectation table written from libpod's ensureState
// calls (plus STOPPING) and the refusals listed in the issue.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_OPERATIONS, ALL_STATES, ContainerState, TRANSITIONS, checkOperation, stateName, verdict, type Operation } from "../../src/statemachine/states.js";
import { HullError, type ErrorReason } from "../../src/errors.js";

const CONFIGURED = ContainerState.CONTAINER_STATE_CONFIGURED;
const CREATED = ContainerState.CONTAINER_STATE_CREATED;
const RUNNING = ContainerState.CONTAINER_STATE_RUNNING;
const PAUSED = ContainerState.CONTAINER_STATE_PAUSED;
const STOPPING = ContainerState.CONTAINER_STATE_STOPPING;
const STOPPED = ContainerState.CONTAINER_STATE_STOPPED;
const EXITED = ContainerState.CONTAINER_STATE_EXITED;
const REMOVING = ContainerState.CONTAINER_STATE_REMOVING;
const UNKNOWN = ContainerState.CONTAINER_STATE_UNKNOWN;

const EVERY = [CONFIGURED, CREATED, RUNNING, PAUSED, STOPPING, STOPPED, EXITED, REMOVING, UNKNOWN] as const;
const BUT_REMOVING = EVERY.filter((s) => s !== REMOVING);

/** The user-visible name of each state, written out rather than derived. */
const NAMES: Record<(typeof EVERY)[number], string> = {
  [CONFIGURED]: "configured",
  [CREATED]: "created",
  [RUNNING]: "running",
  [PAUSED]: "paused",
  [STOPPING]: "stopping",
  [STOPPED]: "stopped",
  [EXITED]: "exited",
  [REMOVING]: "removing",
  [UNKNOWN]: "unknown",
};

interface Expectation {
  act: readonly ContainerState[];
  noop?: readonly ContainerState[];
  /** Refusals whose reason is not CONTAINER_STATE_INVALID. */
  special?: Partial<Record<ContainerState, ErrorReason>>;
}

// libpod: Init ensureState(Configured, Stopped, Exited); Start accepts
// Configured/Created/Stopped/Exited and is a no-op when running; Stop refuses
// Stopped/Exited with ErrCtrStopped; Kill needs Running/Paused/Stopping;
// Pause needs Running; Unpause needs Paused; Restart refuses paused/unknown;
// Cleanup refuses Running/Paused and has nothing to do when configured or
// exited; Attach/Resize need Created/Running; Exec and Checkpoint need
// Running; Restore needs Configured/Exited; removal without force refuses
// running, paused and stopping containers; a removal in progress refuses
// everything that touches the container. Update (CRI-O's
// UpdateContainerResources) takes any settled state; reopening the log needs
// a live monitor.
const EXPECT: Record<Operation, Expectation> = {
  init: { act: [CONFIGURED, STOPPED, EXITED] },
  start: { act: [CONFIGURED, CREATED, STOPPED, EXITED], noop: [RUNNING] },
  stop: {
    act: [CREATED, RUNNING, PAUSED, STOPPING],
    special: { [STOPPED]: "CONTAINER_ALREADY_STOPPED", [EXITED]: "CONTAINER_ALREADY_STOPPED" },
  },
  kill: { act: [RUNNING, PAUSED, STOPPING] },
  pause: { act: [RUNNING] },
  unpause: { act: [PAUSED] },
  restart: { act: [CONFIGURED, CREATED, RUNNING, STOPPED, EXITED] },
  wait: { act: BUT_REMOVING },
  cleanup: { act: [CREATED, STOPPING, STOPPED, UNKNOWN], noop: [CONFIGURED, EXITED] },
  sync: { act: EVERY },
  remove: { act: [CONFIGURED, CREATED, STOPPED, EXITED, UNKNOWN] },
  "force-remove": { act: BUT_REMOVING },
  mount: { act: BUT_REMOVING },
  unmount: { act: BUT_REMOVING },
  attach: { act: [CREATED, RUNNING] },
  resize: { act: [CREATED, RUNNING] },
  exec: { act: [RUNNING] },
  export: { act: BUT_REMOVING },
  checkpoint: { act: [RUNNING] },
  restore: { act: [CONFIGURED, EXITED] },
  artifact: { act: BUT_REMOVING },
  inspect: { act: EVERY },
  update: { act: [CONFIGURED, CREATED, RUNNING, PAUSED, STOPPED, EXITED] },
  "reopen-log": { act: [CREATED, RUNNING, PAUSED, STOPPING] },
};

const ID = "0123456789abcdef".repeat(4);
const SHORT = ID.slice(0, 12);

function expectedVerdict(op: Operation, state: ContainerState): "act" | "noop" | "refuse" {
  const e = EXPECT[op];
  if (e.act.includes(state)) return "act";
  if (e.noop?.includes(state)) return "noop";
  return "refuse";
}

function refusal(op: Operation, state: ContainerState): HullError {
  try {
    checkOperation(ID, state, op);
  } catch (err) {
    assert.ok(err instanceof HullError, `${op} in ${NAMES[state as keyof typeof NAMES]} threw a non-HullError: ${String(err)}`);
    return err;
  }
  assert.fail(`checkOperation(${op}, ${NAMES[state as keyof typeof NAMES]}) did not throw`);
}

function name(state: ContainerState): string {
  return NAMES[state as keyof typeof NAMES];
}

describe("state table: coverage", () => {
  it("ALL_STATES is exactly the nine storable states", () => {
    assert.deepEqual([...ALL_STATES].sort(), [...EVERY].sort());
    assert.ok(!ALL_STATES.includes(ContainerState.CONTAINER_STATE_UNSPECIFIED));
  });

  it("every operation has a rule and an expectation", () => {
    assert.deepEqual([...ALL_OPERATIONS].sort(), Object.keys(EXPECT).sort());
    assert.deepEqual(Object.keys(TRANSITIONS).sort(), Object.keys(EXPECT).sort());
  });

  it("stateName gives the user-visible lower-case names", () => {
    for (const s of EVERY) assert.equal(stateName(s), NAMES[s]);
  });
});

describe("state table: verdict for every (state, operation)", () => {
  for (const op of Object.keys(EXPECT) as Operation[]) {
    it(`${op}`, () => {
      for (const state of EVERY) {
        assert.equal(verdict(state, op), expectedVerdict(op, state), `verdict(${name(state)}, ${op})`);
      }
    });
  }
});

describe("state table: checkOperation", () => {
  for (const op of Object.keys(EXPECT) as Operation[]) {
    it(`${op}: acts, no-ops or refuses with the right reason and message`, () => {
      const e = EXPECT[op];
      const acceptedNames = [...e.act, ...(e.noop ?? [])].map(name);
      for (const state of EVERY) {
        const expected = expectedVerdict(op, state);
        if (expected !== "refuse") {
          assert.equal(checkOperation(ID, state, op), expected, `checkOperation(${name(state)}, ${op})`);
          continue;
        }
        const err = refusal(op, state);
        const reason = e.special?.[state] ?? "CONTAINER_STATE_INVALID";
        const where = `${op} in ${name(state)}: ${err.message}`;
        assert.equal(err.reason, reason, where);
        assert.ok(err.message.includes(SHORT), `message must name the container (${SHORT}): ${where}`);
        assert.ok(err.message.includes(name(state)), `message must name the state: ${where}`);
        if (reason === "CONTAINER_STATE_INVALID") {
          for (const accepted of acceptedNames) {
            assert.ok(err.message.includes(accepted), `message must list accepted state ${accepted}: ${where}`);
          }
        }
      }
    });
  }
});

describe("state table: the refusals named in the issue", () => {
  const cases: Array<[Operation, ContainerState, ErrorReason]> = [
    ["stop", STOPPED, "CONTAINER_ALREADY_STOPPED"],
    ["stop", EXITED, "CONTAINER_ALREADY_STOPPED"],
    ["stop", CONFIGURED, "CONTAINER_STATE_INVALID"],
    ["kill", CONFIGURED, "CONTAINER_STATE_INVALID"],
    ["kill", CREATED, "CONTAINER_STATE_INVALID"],
    ["kill", STOPPED, "CONTAINER_STATE_INVALID"],
    ["kill", EXITED, "CONTAINER_STATE_INVALID"],
    ["pause", PAUSED, "CONTAINER_STATE_INVALID"],
    ["pause", CREATED, "CONTAINER_STATE_INVALID"],
    ["unpause", RUNNING, "CONTAINER_STATE_INVALID"],
    ["init", CREATED, "CONTAINER_STATE_INVALID"],
    ["init", RUNNING, "CONTAINER_STATE_INVALID"],
    ["cleanup", RUNNING, "CONTAINER_STATE_INVALID"],
    ["cleanup", PAUSED, "CONTAINER_STATE_INVALID"],
    ["remove", RUNNING, "CONTAINER_STATE_INVALID"],
    ["restart", PAUSED, "CONTAINER_STATE_INVALID"],
    ["exec", CREATED, "CONTAINER_STATE_INVALID"],
    ["force-remove", REMOVING, "CONTAINER_STATE_INVALID"],
  ];
  for (const [op, state, reason] of cases) {
    it(`${op} of a ${name(state)} container → ${reason}`, () => {
      const err = refusal(op, state);
      assert.equal(err.reason, reason);
      assert.ok(err.message.includes(SHORT) && err.message.includes(name(state)), err.message);
      assert.ok(!err.message.includes(ID), `message should use the short id: ${err.message}`);
    });
  }

  it("start of a running container is a no-op, not an error", () => {
    assert.equal(checkOperation(ID, RUNNING, "start"), "noop");
  });

  it("cleanup of a configured or exited container is a no-op", () => {
    assert.equal(checkOperation(ID, CONFIGURED, "cleanup"), "noop");
    assert.equal(checkOperation(ID, EXITED, "cleanup"), "noop");
  });

  it("a stopping container accepts a second stop and a kill (escalation)", () => {
    assert.equal(checkOperation(ID, STOPPING, "stop"), "act");
    assert.equal(checkOperation(ID, STOPPING, "kill"), "act");
    assert.equal(checkOperation(ID, STOPPING, "inspect"), "act");
  });
});
