// Reading a process's capabilities from /proc/PID/status, for tests that
// prove them from inside a container.
import { ALL_CAPABILITIES } from "../../src/domain/spec-defaults.js";
import { must } from "./fixtures.js";

/** Capability names from a /proc/PID/status hex mask (bit i = ALL_CAPABILITIES[i]). */
export function decodeCaps(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** One field of /proc/PID/status text ("CapAmb", "NoNewPrivs"): its first word. */
export function statusField(status: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(\\S+)`, "m").exec(status);
  return must(m?.[1], `${name} in /proc/PID/status`);
}
