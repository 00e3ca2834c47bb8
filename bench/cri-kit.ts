// What the CRI benchmarks (cri.ts, cri-run.ts) need from ../shared/critest-kit:
// its registry (serving registry.k8s.io/… and gcr.io/… under their paths),
// the host's CNI plugins and config, and containerd on the kit's socket as
// the reference runtime.
import { access, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

export const CONTAINERD = process.env.CRITEST_CONTAINERD_ENDPOINT ?? "unix:///run/critest-containerd/containerd.sock";
export const REGISTRY = process.env.CRITEST_REGISTRY ?? "127.0.0.1:5000";
export const CNI_CONFIG_DIR = process.env.HULL_CNI_CONFIG_DIR ?? "/etc/cni/net.d";

export async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Whether something accepts connections on the unix socket of endpoint (unix:///path). */
export function socketUp(endpoint: string): Promise<boolean> {
  const path = endpoint.replace(/^unix:\/\//, "");
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.end();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function registryUp(): Promise<boolean> {
  try {
    const r = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(3000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Why the kit cannot serve a CRI benchmark here (what to start), or undefined when it can. */
export async function kitMissing(): Promise<string | undefined> {
  if (!(await registryUp()))
    return `the critest kit's registry does not answer at http://${REGISTRY}/v2/; start it with ../shared/critest-kit/start-registry.sh`;
  const cniConfig = await access(CNI_CONFIG_DIR).then(
    () => true,
    () => false,
  );
  if (!(await executable("/usr/lib/cni/bridge")) || !cniConfig)
    return `no CNI plugins in /usr/lib/cni or no config in ${CNI_CONFIG_DIR}; run ../shared/critest-kit/install-cni.sh`;
  return undefined;
}

/** What hulld needs to serve critest's images: both upstream hosts rewritten to the kit's registry, over plain HTTP. */
export async function kitRegistriesConf(dir: string): Promise<string> {
  const file = join(dir, "registries.conf");
  const table = (host: string): string => `[[registry]]\nprefix = "${host}"\nlocation = "${REGISTRY}"\ninsecure = true\n`;
  await writeFile(file, [table("registry.k8s.io"), table("gcr.io"), '[[registry]]\nprefix = "docker.io"\nblocked = true\n'].join("\n"));
  return file;
}
