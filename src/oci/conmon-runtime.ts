// The real Runtime: an OCI runtime CLI (runc, crun) with conmon as each
// container's and exec session's monitor, as Podman and CRI-O run them, so
// containers outlive hulld. Each method is one step of conmon's protocol or
// one runtime call; the protocol itself is in conmon.ts, exec.ts, attach.ts.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { TerminalSize } from "../gen/hull/v1/container.js";
import { HullError } from "../errors.js";
import { AttachConnection, writeResize, writeReopenLog } from "./attach.js";
import { attachSocketPath, startConmon } from "./conmon.js";
import { runtimeCheckpoint } from "./criu.js";
import { readExitFile } from "./exits.js";
import { execPaths, removeExecFiles, startExecProcess, watchExecExit } from "./exec.js";
import { endMonitors, isAlive, scanMonitors } from "./monitors.js";
import type { RuntimeCli } from "./runtime-cli.js";
import type {
  AttachStream,
  CheckpointRequest,
  CreateRequest,
  ExecProcess,
  ExecStart,
  Launched,
  LinuxResources,
  MonitorProcess,
  OutputHandlers,
  Runtime,
  RuntimeState,
} from "./runtime.js";

export interface ConmonRuntimeOptions {
  cli: RuntimeCli;
  /**
   * conmon puts attach sockets under <socketDir>/<id>: keep it short (the
   * 108-byte sun_path; see attachSocketPath).
   */
  socketDir: string;
  /** Dirs whose mention in a conmon's argv makes it one of this hulld's monitors. */
  ownDirs: string[];
  conmonBinary?: string;
}

export class ConmonRuntime implements Runtime {
  readonly name: string;

  constructor(private readonly o: ConmonRuntimeOptions) {
    this.name = o.cli.name;
  }

  /** The runtime binary behind conmon (for logs). */
  get binaryPath(): string {
    return this.o.cli.binaryPath;
  }

  async create(req: CreateRequest): Promise<Launched> {
    const { pid, conmonPid } = await startConmon({
      ...req,
      runtime: this.o.cli,
      socketDir: this.o.socketDir,
      ...(this.o.conmonBinary !== undefined ? { conmonBinary: this.o.conmonBinary } : {}),
    });
    return { pid, monitorPid: conmonPid };
  }

  start(id: string): Promise<void> {
    return this.o.cli.start(id);
  }

  kill(id: string, signal: number, all = false): Promise<void> {
    return this.o.cli.kill(id, signal, all);
  }

  pause(id: string): Promise<void> {
    return this.o.cli.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.o.cli.resume(id);
  }

  delete(id: string, force = false): Promise<void> {
    return this.o.cli.delete(id, force);
  }

  exists(id: string): Promise<boolean> {
    return this.o.cli.exists(id);
  }

  state(id: string): Promise<RuntimeState | undefined> {
    return this.o.cli.state(id);
  }

  list(): Promise<RuntimeState[]> {
    return this.o.cli.list();
  }

  update(id: string, resources: LinuxResources): Promise<void> {
    return this.o.cli.update(id, resources);
  }

  checkpoint(id: string, req: CheckpointRequest): Promise<void> {
    return runtimeCheckpoint(this.o.cli, id, req);
  }

  async attach(id: string, handlers: OutputHandlers): Promise<AttachStream> {
    const conn = await AttachConnection.connect(attachSocketPath(this.o.socketDir, id), handlers);
    return {
      writeStdin: (data) => conn.writeStdin(data),
      closeStdin: () => conn.closeStdin(),
      close: () => conn.close(),
    };
  }

  resize(_id: string, bundlePath: string, size: TerminalSize): Promise<void> {
    return writeResize(bundlePath, size.height, size.width);
  }

  private mountOptionsSeen: Promise<string[]> | undefined;

  /** Asked once: the runtime binary does not change under a running hulld. */
  mountOptions(): Promise<string[]> {
    this.mountOptionsSeen ??= this.o.cli.mountOptions();
    return this.mountOptionsSeen;
  }

  reopenLog(_id: string, bundlePath: string): Promise<void> {
    return writeReopenLog(bundlePath);
  }

  exec(req: ExecStart): Promise<ExecProcess> {
    return startExecProcess({
      ...req,
      runtime: this.o.cli,
      socketDir: this.o.socketDir,
      ...(this.o.conmonBinary !== undefined ? { conmonBinary: this.o.conmonBinary } : {}),
    });
  }

  execExitCode(containerId: string, sessionDir: string): Promise<number | undefined> {
    return readExitFile(execPaths(sessionDir).exitDir, containerId);
  }

  async rewatchExec(containerId: string, sessionDir: string): Promise<{ exited: Promise<number>; close(): void } | undefined> {
    const paths = execPaths(sessionDir);
    const conmonPid = Number((await readFile(paths.conmonPidFile, "utf8").catch(() => "")).trim());
    if (!(await isAlive(conmonPid))) return undefined;
    return watchExecExit(paths.exitDir, containerId);
  }

  removeExecFiles(sessionId: string, sessionDir: string): Promise<void> {
    return removeExecFiles(sessionDir, this.o.socketDir, sessionId);
  }

  monitors(): Promise<MonitorProcess[]> {
    return scanMonitors(this.o.ownDirs);
  }

  isAlive(pid: number): Promise<boolean> {
    return isAlive(pid);
  }

  endMonitors(pids: number[], ms?: number): Promise<number> {
    return endMonitors(pids, ms);
  }

  async removeMonitorFiles(id: string): Promise<void> {
    // conmon's link from the socket dir to the bundle (for the attach socket); a killed conmon leaves it behind.
    await rm(join(this.o.socketDir, id), { force: true, recursive: true }).catch((err: unknown) => {
      throw new HullError("INTERNAL", `removing conmon's socket link of container ${id.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`, {
        container: id,
      });
    });
  }
}
