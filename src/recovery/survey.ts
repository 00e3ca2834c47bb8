// What hulld finds of the host at start: one runtime list, one scan for
// monitors and one of mounts, shared by every record's recovery.
import type { MonitorProcess, RuntimeState } from "../oci/runtime.js";
import type { Engine } from "../engine/engine.js";
import { mountsUnder } from "./host-mounts.js";

export interface HostView {
  /** undefined when the runtime could not list its containers: then each record asks for its own. */
  runtime: Map<string, RuntimeState> | undefined;
  /** Container monitors (not exec sessions') by container id. */
  monitors: Map<string, MonitorProcess[]>;
  allMonitors: MonitorProcess[];
  mounts: string[];
}

export async function surveyHost(engine: Engine): Promise<HostView> {
  const { root, runRoot } = engine.paths;
  const listing = engine.runtime.list().catch((err: unknown) => {
    // Recovery must not keep hulld from serving: go on asking container by container.
    engine.log.error({ err }, "listing the runtime's containers; runtime orphans will not be swept this time");
    return undefined;
  });
  const [listed, allMonitors, mounts] = await Promise.all([listing, engine.runtime.monitors(), mountsUnder([root, runRoot])]);
  const monitors = new Map<string, MonitorProcess[]>();
  for (const m of allMonitors.filter((x) => !x.exec)) monitors.set(m.containerId, [...(monitors.get(m.containerId) ?? []), m]);
  return { runtime: listed && new Map(listed.map((r) => [r.id, r])), monitors, allMonitors, mounts };
}
