// ExportContainer (libpod's Export): the root filesystem as a tar stream.
// The tar is streamed without the container's lock: an export of a big tree
// must not block the container's other calls; the rootfs is held mounted
// meanwhile (rootfs.ts), and a removal refuses while it is.
import { checkOperation } from "../statemachine/states.js";
import { exportTree } from "../images/export.js";
import type { Engine } from "../engine/engine.js";
import { withRootfs } from "./rootfs.js";

/** write resolves once the consumer can take more; the export stops when signal aborts. */
export async function exportContainer(engine: Engine, ref: string, write: (chunk: Buffer) => Promise<void>, signal: AbortSignal): Promise<void> {
  const log = engine.log.child({ op: "export" });
  await withRootfs(
    engine,
    ref,
    "export",
    (rec) => checkOperation(rec.id, rec.state, "export"),
    async (path, rec) => {
      log.debug({ container: rec.id, path }, "exporting");
      await exportTree(path, write, signal, log);
    },
  );
}
