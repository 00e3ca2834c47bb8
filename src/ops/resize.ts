// ResizeTerminal (libpod's AttachResize): a tty container's terminal size,
// through its monitor. Created or running containers with a terminal only.
// The size was checked by the caller (checkTerminalSize in
// src/validation/rules.ts, from the handler of the RPC or of the attach).
import type { TerminalSize } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import { checkOperation } from "../statemachine/states.js";
import type { Engine } from "../engine/engine.js";

/**
 * Resizes the container's terminal. A container without a terminal cannot
 * be resized: that depends on how it was created, not on the request, so it
 * is FAILED_PRECONDITION (CONTAINER_STATE_INVALID, metadata tty=false).
 */
export async function resizeTerminal(engine: Engine, ref: string, size: TerminalSize): Promise<void> {
  const { height, width } = size;
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
