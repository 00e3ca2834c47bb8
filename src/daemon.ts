// hulld as a library: open the store, the runtime and the exit watcher,
// reconcile with reality, then serve. Tests and benchmarks start it
// in-process; src/hulld.ts is the command around it.
import { chmod, mkdir } from "node:fs/promises";
import type { Server } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { StateStore } from "./store/store.js";
import { RuntimeCli } from "./oci/runtime-cli.js";
import { ConmonRuntime } from "./oci/conmon-runtime.js";
import { ImageStore } from "./images/image-store.js";
import { loadRegistriesConfig } from "./images/registries-conf.js";
import { hostPodEnvironment } from "./network/pod-environment.js";
import { ExitWatcher } from "./oci/exits.js";
import { readHostLimits } from "./oci/hostinfo.js";
import { Engine, enginePaths } from "./engine/engine.js";
import { handleExit } from "./ops/exit.js";
import { recoverAll } from "./recovery/recovery.js";
import { LogRotator } from "./engine/log-rotator.js";
import { checkRecoveredPods } from "./recovery/pods.js";
import { startServer } from "./service/server.js";
import { startHttpAttach } from "./service/http-attach.js";
import { prepareSocketDir, resolveSocketGroup, setSocketOwnership } from "./service/socket-access.js";
import { serverCredentials, type TcpListenerConfig } from "./service/tls.js";
import type { TransportLimits } from "./service/server.js";
import { StreamingServer } from "./service/streaming/server.js";
import { DEFAULT_STREAMING_ADDRESS, streamingConfigFrom, streamingOptions, type StreamingConfig } from "./service/streaming/config.js";

export interface DaemonOptions {
  socket: string;
  root: string;
  runRoot: string;
  /** "runc", "crun" or a path to an OCI runtime binary. */
  runtime: string;
  log: Logger;
  /** Optional unix socket for Docker-style HTTP attach. */
  httpSocket?: string;
  conmon?: string;
  /** Group (name or gid) owning the unix sockets, 0660; default root (0). */
  socketGroup?: string;
  /** Also serve on TCP, mutual TLS only (validated by tcpListenerFrom). */
  tcp?: TcpListenerConfig;
  limits?: Partial<TransportLimits>;
  /** containers-registries.conf(5) file with mirrors and rewrites for every pull. */
  registriesConf?: string;
  /** CNI network configs (default /etc/cni/net.d) and plugin dirs (default /usr/lib/cni, /opt/cni/bin). */
  cniConfigDir?: string;
  cniPluginDirs?: string[];
  /** Infra container image for pods sharing a PID namespace (default registry.k8s.io/pause:3.10). */
  pauseImage?: string;
  /** The CRI streaming server (streamingConfigFrom); default loopback, a free port, 4 h idle timeout. */
  streaming?: StreamingConfig;
}

export interface Daemon {
  engine: Engine;
  server: Server;
  /** "host:port" of the TLS listener, when --listen-tcp was given (port 0 resolved). */
  tcpAddress?: string;
  /** "host:port" of the CRI streaming server (port 0 resolved). */
  streamingAddress: string;
  close(): Promise<void>;
}

/** How long in-flight calls may take to finish at shutdown before being cut. */
const SHUTDOWN_GRACE_MS = 5000;

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { log } = opts;
  const paths = enginePaths(opts.root, opts.runRoot);
  // Configuration mistakes surface before any state is touched.
  const socketGroup = opts.socketGroup === undefined ? undefined : await resolveSocketGroup(opts.socketGroup);
  await prepareSocketDir(opts.socket, socketGroup, log);
  if (opts.httpSocket) await prepareSocketDir(opts.httpSocket, socketGroup, log);
  const tcp = opts.tcp ? { host: opts.tcp.host, port: opts.tcp.port, credentials: await serverCredentials(opts.tcp) } : undefined;
  const registries = await loadRegistriesConfig(opts.registriesConf);
  const streamingOpts = await streamingOptions(opts.streaming ?? streamingConfigFrom({ streamingAddress: DEFAULT_STREAMING_ADDRESS }));
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  await mkdir(paths.runRoot, { recursive: true, mode: 0o700 });
  for (const dir of [paths.exitDir, paths.persistDir, paths.bundlesDir, paths.socketDir, paths.containersDir, paths.runtimeRoot]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  // Search but not list, as containerd keeps /var/lib/containerd (0711): root in a
  // user namespace is a host id without DAC override, and runc's init must
  // walk down to such a container's rootfs (each of those containers' dirs is 0711 too).
  for (const dir of [paths.root, paths.containersDir]) await chmod(dir, 0o711);
  // The store's lock is what refuses a second hulld on the same state root.
  const store = await StateStore.open(paths.root);
  try {
    const cli = new RuntimeCli({ binary: opts.runtime, root: paths.runtimeRoot });
    const runtime = new ConmonRuntime({
      cli,
      socketDir: paths.socketDir,
      ownDirs: [paths.root, paths.runRoot],
      ...(opts.conmon !== undefined ? { conmonBinary: opts.conmon } : {}),
    });
    const exits = new ExitWatcher(paths.exitDir);
    const images = await ImageStore.open(paths.root, store, log);
    const pods = hostPodEnvironment({ root: paths.root, cniConfigDir: opts.cniConfigDir, cniPluginDirs: opts.cniPluginDirs, pauseImage: opts.pauseImage });
    const engine = new Engine({ store, runtime, exits, images, registries, pods, paths, hostLimits: await readHostLimits(), log });
    const pendingExits = new Set<Promise<void>>();
    exits.on("exit", (id: string) => {
      const handling = handleExit(engine, id).finally(() => pendingExits.delete(handling));
      pendingExits.add(handling);
    });
    await exits.start({ emitExisting: false });
    const recovered = await recoverAll(engine);
    const rotator = new LogRotator({ bus: engine.bus, runtime, log });
    rotator.start(await store.listContainers());
    const streaming = await StreamingServer.start(engine, streamingOpts, log);
    let running: Awaited<ReturnType<typeof startServer>>;
    try {
      running = await startServer(engine, { socket: opts.socket, socketGroup, tcp, limits: opts.limits, streaming, log });
    } catch (err) {
      rotator.close();
      await streaming.close();
      throw err;
    }
    const { server, health } = running;
    let http: Awaited<ReturnType<typeof startHttpAttach>> | undefined;
    try {
      http = opts.httpSocket ? await startHttpAttach(engine, opts.httpSocket, log) : undefined;
      if (opts.httpSocket) await setSocketOwnership(opts.httpSocket, socketGroup);
    } catch (err) {
      http?.close();
      await running.shutdown(0);
      rotator.close();
      await streaming.close();
      throw err;
    }
    // The kept pods' CNI CHECKs run once serving: each runs plugins, and the
    // kubelet should not wait on advisory checks to reach the socket.
    let closing = false;
    const podChecks = checkRecoveredPods(engine, recovered.podsToCheck, () => closing).catch((err: unknown) =>
      log.error({ err }, "checking the networks of the pods kept across the restart"),
    );
    log.info(
      {
        socket: opts.socket,
        socketGroup: socketGroup?.name,
        httpSocket: opts.httpSocket,
        tcp: running.tcpAddress,
        streaming: streaming.address,
        root: paths.root,
        runRoot: paths.runRoot,
        runtime: runtime.binaryPath,
      },
      "hulld serving",
    );
    return {
      engine,
      server,
      tcpAddress: running.tcpAddress,
      streamingAddress: streaming.address,
      async close() {
        health.setStatus("", "NOT_SERVING");
        closing = true;
        await running.shutdown(SHUTDOWN_GRACE_MS);
        await streaming.close();
        if (http) {
          http.closeAllConnections();
          await new Promise<void>((resolve) => http.close(() => resolve()));
        }
        exits.stop();
        rotator.close();
        await Promise.allSettled([...pendingExits, podChecks]);
        // Runtime deletes and file removal the exits and removals left running (engine/teardowns.ts).
        await engine.teardowns.settleAll();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
