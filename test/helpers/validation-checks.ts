// The refusal checks of the validation tests (validation-rules.test.ts,
// validation-requests.test.ts): what a validator refused and with which field,
// and a minimal ContainerConfig a validator accepts, to vary one field of.
import assert from "node:assert/strict";
import { HullError } from "../../src/errors.js";
import { ContainerConfig as ConfigFns, type ContainerConfig } from "../../src/gen/hull/v1/container.js";

/** The field an INVALID_ARGUMENT names, or undefined when fn accepts. Anything else thrown fails the test. */
export function refusal(fn: () => unknown): { field: string; message: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof HullError && err.reason === "INVALID_ARGUMENT", `expected INVALID_ARGUMENT, got ${String(err)}`);
    assert.ok(err.metadata.field !== undefined && err.metadata.field !== "", `the refusal names its field: ${err.message}`);
    return { field: err.metadata.field, message: err.message };
  }
}

export function refused(fn: () => unknown, field?: string): void {
  const got = refusal(fn);
  assert.ok(got, "expected a refusal");
  if (field !== undefined) assert.equal(got.field, field, got.message);
}

export function accepted(fn: () => unknown): void {
  const got = refusal(fn);
  assert.equal(got, undefined, got?.message);
}

export const config = (extra: Partial<ContainerConfig> = {}): ContainerConfig =>
  ConfigFns.fromPartial({ rootfsPath: "/tmp/rootfs", command: ["sh"], ...extra });
