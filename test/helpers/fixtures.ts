// Small helpers shared by the integration tests: container configs, create /
// start shortcuts, forced removal, and a bounded "until" for counters.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { type Container, type ContainerConfig, ContainerState, type DeepPartial, type WaitContainerResponse } from "../../src/gen/hull/v1/container.js";
import { type Api, errorInfo } from "./api.js";

export const S = ContainerState;
export { ContainerState };

/** PID 1 ignores SIGTERM without a handler, so this only dies by SIGKILL. */
export const SLEEP = ["sleep", "1000"] as const;
/** Traps TERM explicitly, for the stop-escalation tests. */
export const IGNORE_TERM = ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"] as const;

let counter = 0;
/** A valid, unique container name. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

export function must<T>(value: T | undefined | null, what: string): T {
  assert.ok(value !== undefined && value !== null, `${what} is missing`);
  return value;
}

export function stateLabel(state: ContainerState): string {
  return ContainerState[state] ?? String(state);
}

export function assertState(c: Container, expected: ContainerState | readonly ContainerState[], what = c.name): void {
  const ok = Array.isArray(expected) ? expected : [expected];
  assert.ok(ok.includes(c.state), `${what}: expected state ${ok.map(stateLabel).join(" or ")}, got ${stateLabel(c.state)} (${c.stateReason})`);
}

export function config(rootfs: string, command: readonly string[], extra: DeepPartial<ContainerConfig> = {}): DeepPartial<ContainerConfig> {
  return { name: uniqueName("c"), rootfsPath: rootfs, command: [...command], ...extra };
}

export async function create(api: Api, rootfs: string, command: readonly string[], extra: DeepPartial<ContainerConfig> = {}): Promise<Container> {
  const res = await api.createContainer({ config: config(rootfs, command, extra) });
  const c = must(res.container, "CreateContainerResponse.container");
  assert.match(c.id, /^[0-9a-f]{64}$/);
  assertState(c, S.CONTAINER_STATE_CONFIGURED);
  return c;
}

export async function createStarted(api: Api, rootfs: string, command: readonly string[], extra: DeepPartial<ContainerConfig> = {}): Promise<Container> {
  const c = await create(api, rootfs, command, extra);
  const started = must((await api.startContainer({ id: c.id })).container, "StartContainerResponse.container");
  return started;
}

export async function inspect(api: Api, id: string): Promise<Container> {
  return must((await api.inspectContainer({ id })).container, "InspectContainerResponse.container");
}

/** Waits until cleanup ran (state EXITED). */
export function waitExited(api: Api, id: string): Promise<WaitContainerResponse> {
  return api.waitContainer({ id, condition: S.CONTAINER_STATE_EXITED });
}

/**
 * Force-removes each container (SIGKILL at once), in the REVERSE of the given
 * order (pass creation order: dependents go first), ignoring ones already
 * gone. Tries every one, then throws the first other error.
 */
export async function removeAll(api: Api, ids: Iterable<string>): Promise<void> {
  let first: unknown;
  for (const id of [...ids].reverse()) {
    try {
      await api.removeContainer({ id, force: true, timeoutSeconds: 0 });
    } catch (err) {
      if (errorInfo(err).code !== grpc.status.NOT_FOUND) first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Re-evaluates `probe` until it returns a value (not undefined); fails after
 * `timeoutMs`. For counters and pids only: prefer WaitContainer conditions
 * for states.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface Pending<T> {
  /** Whether the promise has settled yet. */
  done(): boolean;
  /** Never rejects. */
  outcome: Promise<Outcome<T>>;
}

/** Watches a promise without letting its rejection go unhandled. */
export function pending<T>(p: Promise<T>): Pending<T> {
  let settled = false;
  const outcome = p.then(
    (value): Outcome<T> => {
      settled = true;
      return { ok: true, value };
    },
    (error: unknown): Outcome<T> => {
      settled = true;
      return { ok: false, error };
    },
  );
  return { done: () => settled, outcome };
}

/** The value of a settled Pending, rethrowing its error. */
export async function resolved<T>(p: Pending<T>): Promise<T> {
  const o = await p.outcome;
  if (!o.ok) throw o.error;
  return o.value;
}
