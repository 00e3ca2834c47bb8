// ResizeTerminal (libpod's AttachResize): a tty container's terminal size,
// through its monitor. Created or running containers with a terminal only.
import type { TerminalSize } from "../gen/hull/v1/container.js";
import { HullError, invalidArgument } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

/** struct winsize holds unsigned shorts. */
const MAX_DIMENSION = 0xffff;

export function validateSize(size: TerminalSize | undefined, field: string): { height: number; width: number } {
  if (!size) throw invalidArgument(field, "required");
  for (const [name, value] of [["height", size.height], ["width", size.width]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_DIMENSION) {
      throw invalidArgument(`${field}.${name}`, `${value} is not a terminal dimension (1 to ${MAX_DIMENSION})`);
    }
  }
  return { height: size.height, width: size.width };
}

/**
 * Resizes the container's terminal. A container without a terminal cannot
 * be resized: that depends on how it was created, not on the request, so it
 * is FAILED_PRECONDITION (CONTAINER_STATE_INVALID, metadata tty=false).
 */
export async function resizeTerminal(engine: Engine, ref: string, size: TerminalSize | undefined, field = "size"): Promise<void> {
  const { height, width } = validateSize(size, field);
  await engine.locked(ref, "resize", async (rec) => {
    checkOperation(rec.id, rec.state, "resize");
    if (!rec.config.tty) {
      throw new HullError("CONTAINER_STATE_INVALID", `cannot resize container ${rec.id.slice(0, 12)}: it has no terminal (it was created without tty)`, {
        container: rec.id,
        tty: "false",
      });
    }
    await engine.runtime.resize(rec.id, rec.bundlePath || engine.bundlePath(rec.id), { height, width });
  });
}
