// Inputs for generateSpec in the OCI spec tests: a container config and spec
// input with every field set, SecurityOptions from a partial, and a matcher for
// the INVALID_ARGUMENT HullError that names a field.
import { SecurityOptions, type ContainerConfig } from "../../src/gen/hull/v1/container.js";
import { containerConfig } from "./container-config.js";
import { HullError } from "../../src/errors.js";
import type { SpecInput } from "../../src/oci/spec.js";

export const ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

export function config(over: Partial<ContainerConfig> = {}): ContainerConfig {
  return containerConfig({ name: "c", rootfsPath: "/r", command: ["/bin/sh"], ...over });
}

export function input(over: Partial<ContainerConfig> = {}, extra: Partial<SpecInput> = {}): SpecInput {
  return {
    id: ID,
    config: config(over),
    rootfs: "/r",
    user: { uid: 0, gid: 0, additionalGids: [], home: "/root" },
    hostLimits: { nofileHard: 20000, nprocHard: 96365 },
    cgroupsPath: `/hull/${ID}`,
    ...extra,
  };
}

export function security(over: Partial<SecurityOptions> = {}): SecurityOptions {
  return { ...SecurityOptions.fromPartial({}), ...over };
}

export function isInvalid(field: string) {
  return (err: unknown): boolean => err instanceof HullError && err.reason === "INVALID_ARGUMENT" && err.metadata.field === field;
}
