// An OCI bundle for a test container: hull's spec for a config on a rootfs,
// with this host's limits, written where the runtime reads it.
import type { ContainerConfig } from "../../src/gen/hull/v1/container.js";
import { generateSpec } from "../../src/oci/spec.js";
import { readHostLimits, resolveUser } from "../../src/oci/hostinfo.js";
import { writeBundle } from "../../src/oci/bundle.js";

export interface TestBundle {
  id: string;
  config: ContainerConfig;
  rootfs: string;
  cgroupsPath: string;
}

export async function writeTestBundle(bundle: string, b: TestBundle): Promise<void> {
  const user = await resolveUser(b.rootfs, b.config.user);
  await writeBundle(bundle, generateSpec({ ...b, user, hostLimits: await readHostLimits() }));
}
