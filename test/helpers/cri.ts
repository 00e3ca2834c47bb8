// A promise-shaped client of the CRI (runtime.v1) generated from the proto,
// as crictl and the kubelet dial it: no Go in the tests.
import * as grpc from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { imageApi, writeLayout } from "./images.js";
import {
  ContainerConfig,
  ImageServiceClient,
  LinuxPodSandboxConfig,
  NamespaceMode,
  PodSandboxConfig,
  RuntimeServiceClient,
  type ContainerConfig as ContainerConfigT,
  type LinuxPodSandboxConfig as LinuxPodSandboxConfigT,
  type NamespaceOption,
  type PodSandboxConfig as PodSandboxConfigT,
} from "../../src/gen/runtime/v1/api.js";

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type UnaryFn<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<Res>) => unknown;

function unary<Req, Res>(fn: UnaryFn<Req, Res>): (req: Req, deadlineMs?: number) => Promise<Res> {
  return (req, deadlineMs = 120_000) =>
    new Promise<Res>((resolve, reject) => {
      fn(req, new grpc.Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res)));
    });
}

export function criClient(socket: string) {
  const rt = new RuntimeServiceClient(`unix:${socket}`, grpc.credentials.createInsecure());
  const img = new ImageServiceClient(`unix:${socket}`, grpc.credentials.createInsecure());
  return {
    status: unary(rt.status.bind(rt)),
    runtimeConfig: unary(rt.runtimeConfig.bind(rt)),
    updateRuntimeConfig: unary(rt.updateRuntimeConfig.bind(rt)),
    runPodSandbox: unary(rt.runPodSandbox.bind(rt)),
    stopPodSandbox: unary(rt.stopPodSandbox.bind(rt)),
    removePodSandbox: unary(rt.removePodSandbox.bind(rt)),
    podSandboxStatus: unary(rt.podSandboxStatus.bind(rt)),
    listPodSandbox: unary(rt.listPodSandbox.bind(rt)),
    createContainer: unary(rt.createContainer.bind(rt)),
    startContainer: unary(rt.startContainer.bind(rt)),
    stopContainer: unary(rt.stopContainer.bind(rt)),
    removeContainer: unary(rt.removeContainer.bind(rt)),
    listContainers: unary(rt.listContainers.bind(rt)),
    containerStatus: unary(rt.containerStatus.bind(rt)),
    updateContainerResources: unary(rt.updateContainerResources.bind(rt)),
    reopenContainerLog: unary(rt.reopenContainerLog.bind(rt)),
    execSync: unary(rt.execSync.bind(rt)),
    exec: unary(rt.exec.bind(rt)),
    attach: unary(rt.attach.bind(rt)),
    portForward: unary(rt.portForward.bind(rt)),
    containerStats: unary(rt.containerStats.bind(rt)),
    listContainerStats: unary(rt.listContainerStats.bind(rt)),
    podSandboxStats: unary(rt.podSandboxStats.bind(rt)),
    listPodSandboxStats: unary(rt.listPodSandboxStats.bind(rt)),
    listMetricDescriptors: unary(rt.listMetricDescriptors.bind(rt)),
    listPodSandboxMetrics: unary(rt.listPodSandboxMetrics.bind(rt)),
    imageFsInfo: unary(img.imageFsInfo.bind(img)),
    pullImage: unary(img.pullImage.bind(img)),
    imageStatus: unary(img.imageStatus.bind(img)),
    removeImage: unary(img.removeImage.bind(img)),
    runtime: rt,
    close(): void {
      rt.close();
      img.close();
    },
  };
}

export type CriClient = ReturnType<typeof criClient>;

export const BUSYBOX = "localhost/hull-test/busybox:1";
export const PAUSE = "localhost/hull-test/pause:1";

let seq = 0;

/** A pod config the way critest builds one: unique name, namespace and uid. */
export function podConfig(over: Partial<PodSandboxConfigT> = {}): PodSandboxConfigT {
  const n = `${process.pid}-${++seq}-${Date.now().toString(36)}`;
  return PodSandboxConfig.fromPartial({ metadata: { name: `pod-${n}`, namespace: `ns-${n}`, uid: `uid-${n}`, attempt: 0 }, ...over });
}

/** A pod's Linux config with these namespace modes (the others the CRI's default, POD) and nothing else set. */
export function podLinux(namespaces: Partial<NamespaceOption>): LinuxPodSandboxConfigT {
  return LinuxPodSandboxConfig.fromPartial({ securityContext: { namespaceOptions: namespaces } });
}

/** A pod on the host's network (it runs without any CNI config), its containers sharing one PID namespace. */
export function hostNetworkPod(over: Partial<PodSandboxConfigT> = {}): PodSandboxConfigT {
  return podConfig({ linux: podLinux({ network: NamespaceMode.NODE }), ...over });
}

export function containerConfig(image: string, over: Partial<ContainerConfigT> = {}): ContainerConfigT {
  return ContainerConfig.fromPartial({ metadata: { name: `c${++seq}`, attempt: 0 }, image: { image }, ...over });
}

/** Creates and starts a BUSYBOX container (sleep 1000 unless `over` says otherwise) in the pod; its id. */
export async function startInPod(cri: CriClient, pod: { id: string; config: PodSandboxConfigT }, over: Partial<ContainerConfigT> = {}): Promise<string> {
  const { containerId } = await cri.createContainer({
    podSandboxId: pod.id,
    config: containerConfig(BUSYBOX, { command: ["sleep", "1000"], ...over }),
    sandboxConfig: pod.config,
  });
  await cri.startContainer({ containerId });
  return containerId;
}

const run = promisify(execFile);

/** Imports the busybox rootfs as BUSYBOX (cmd sh) and as a pause stand-in that waits for TERM. */
export async function importTestImages(socket: string, work: string, rootfs: string): Promise<void> {
  const tarball = join(work, "busybox.tar");
  await run("tar", ["-C", rootfs, "-cf", tarball, "."]);
  const layer = await readFile(tarball);
  const images = imageApi(socket);
  try {
    const env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
    const bb = await writeLayout(join(work, "busybox-layout"), [layer], { Cmd: ["sh"], Env: env });
    await images.importPath(bb.dir, BUSYBOX);
    const pause = await writeLayout(join(work, "pause-layout"), [layer], {
      Entrypoint: ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"],
      Env: env,
    });
    await images.importPath(pause.dir, PAUSE);
  } finally {
    images.close();
  }
}

/**
 * A CRI suite's after(): its pods (best effort: a test may have removed
 * them, or left the daemon dead), the client, the daemon and the work dir.
 */
export async function tearDownCri(
  pods: readonly string[],
  cri: CriClient | undefined,
  d: { cleanup(): Promise<void> } | undefined,
  work: string,
): Promise<void> {
  for (const id of pods) await cri?.removePodSandbox({ podSandboxId: id }).catch(() => undefined);
  cri?.close();
  await d?.cleanup();
  await rm(work, { recursive: true, force: true });
}

/** Polls fn until it returns a value (not undefined), for at most ms. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
