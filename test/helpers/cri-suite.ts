// The shared setup of a CRI test file: a hulld with a CNI network made for
// the file, or without any (host-network pods run; the others are refused),
// the test images imported, a CRI client, and every pod the tests ran
// removed afterwards.
import { before, after } from "node:test";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PodSandboxConfig } from "../../src/gen/runtime/v1/api.js";
import { startTestDaemon, type TestDaemon } from "./daemon.js";
import { buildBusyboxRootfs } from "./rootfs.js";
import { must } from "./fixtures.js";
import { PAUSE, criClient, hostNetworkPod, importTestImages, type CriClient } from "./cri.js";
import type { TestNetwork } from "./cni-net.js";

export interface CriPod {
  id: string;
  config: PodSandboxConfig;
}

export interface CriSuite {
  readonly d: TestDaemon;
  readonly cri: CriClient;
  /** The suite's temp dir (removed after it). */
  readonly work: string;
  /** The busybox rootfs the images were made of, for hull.v1 containers. */
  readonly rootfs: string;
  /** HULL_CNI_CONFIG_DIR: the network's, or without one a dir named and never created. */
  readonly cniConfigDir: string;
  /** The network options.network made. */
  readonly net: TestNetwork;
  /** Runs a pod (host network by default) that is removed after the suite. */
  pod(config?: PodSandboxConfig): Promise<CriPod>;
}

export interface CriSuiteOptions {
  /** Makes the CNI network (in the suite's dir) hulld is given; none by default. */
  network?: (work: string) => Promise<TestNetwork>;
  /**
   * hulld's root inside the suite's dir, made searchable by others (0711):
   * root in a pod's user namespace is a host id that must walk down to its
   * rootfs, which mkdtemp's 0700 forbids.
   */
  searchableRoot?: boolean;
  /** More of hulld's environment (its flags' HULL_* variables). */
  env?: Record<string, string>;
}

/** Registers the before/after hooks; call it inside a describe() callback. */
export function criSuite(prefix: string, opts: CriSuiteOptions = {}): CriSuite {
  let work = "";
  let rootfs = "";
  let net: TestNetwork | undefined;
  let d: TestDaemon | undefined;
  let cri: CriClient | undefined;
  const pods: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), prefix));
    if (opts.searchableRoot) await chmod(work, 0o711);
    rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    net = await opts.network?.(work);
    d = await startTestDaemon({
      ...(opts.searchableRoot ? { root: join(work, "root") } : {}),
      env: { HULL_CNI_CONFIG_DIR: net?.configDir ?? join(work, "no-net.d"), HULL_PAUSE_IMAGE: PAUSE, ...opts.env },
    });
    await importTestImages(d.socket, work, rootfs);
    cri = criClient(d.socket);
  });

  after(async () => {
    for (const id of pods) await cri?.removePodSandbox({ podSandboxId: id }).catch(() => undefined);
    cri?.close();
    await d?.cleanup();
    await net?.cleanup();
    if (work !== "") await rm(work, { recursive: true, force: true });
  });

  return {
    get d(): TestDaemon {
      return must(d, "hulld (the suite's before hook has not run or failed)");
    },
    get cri(): CriClient {
      return must(cri, "CRI client (the suite's before hook has not run or failed)");
    },
    get work(): string {
      return work;
    },
    get rootfs(): string {
      return rootfs;
    },
    get cniConfigDir(): string {
      return net?.configDir ?? join(work, "no-net.d");
    },
    get net(): TestNetwork {
      return must(net, "the suite's network (options.network makes one)");
    },
    async pod(config = hostNetworkPod()): Promise<CriPod> {
      const { podSandboxId } = await must(cri, "CRI client").runPodSandbox({ config, runtimeHandler: "" });
      pods.push(podSandboxId);
      return { id: podSandboxId, config };
    },
  };
}
