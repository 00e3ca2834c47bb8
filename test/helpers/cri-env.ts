// A suite's CRI environment on a CNI network of its own: a work dir, the
// bridge network (cni-net.ts), a hulld using it with the test pause image,
// the busybox and pause images imported, and a CRI client. Called inside a
// describe(), it registers the suite's before and after hooks; after
// removes the pods the tests recorded, then the daemon, the bridge and the
// work dir.
import { before, after } from "node:test";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestDaemon, type TestDaemon } from "./daemon.js";
import { buildBusyboxRootfs } from "./rootfs.js";
import { must } from "./fixtures.js";
import { PAUSE, criClient, importTestImages, type CriClient } from "./cri.js";
import { makeTestNetwork, type TestNetwork } from "./cni-net.js";

export interface CriEnv {
  work: string;
  net: TestNetwork;
  daemon: TestDaemon;
  cri: CriClient;
  /** Pod ids the suite's after hook removes. */
  pods: string[];
}

export interface CriEnvOptions {
  /**
   * hulld's root inside the work dir, made searchable by others (0711):
   * root in a pod's user namespace is a host id that must walk down to its
   * rootfs, which mkdtemp's 0700 forbids.
   */
  searchableRoot?: boolean;
}

export function criEnvOnNetwork(prefix: string, opts: CriEnvOptions = {}): () => CriEnv {
  let env: CriEnv | undefined;
  let work = "";
  let net: TestNetwork | undefined;
  let daemon: TestDaemon | undefined;
  let cri: CriClient | undefined;
  const pods: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), prefix));
    if (opts.searchableRoot) await chmod(work, 0o711);
    const rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    net = await makeTestNetwork(work);
    daemon = await startTestDaemon({
      ...(opts.searchableRoot ? { root: join(work, "root") } : {}),
      env: { HULL_CNI_CONFIG_DIR: net.configDir, HULL_PAUSE_IMAGE: PAUSE },
    });
    await importTestImages(daemon.socket, work, rootfs);
    cri = criClient(daemon.socket);
    env = { work, net, daemon, cri, pods };
  });

  after(async () => {
    for (const id of pods) await cri?.removePodSandbox({ podSandboxId: id }).catch(() => undefined);
    cri?.close();
    await daemon?.cleanup();
    await net?.cleanup();
    if (work !== "") await rm(work, { recursive: true, force: true });
  });

  return () => must(env, "the suite's CRI environment");
}
