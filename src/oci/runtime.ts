// The seam between hull's operations and whatever runs containers: libpod's
// OCIRuntime, CRI-O's RuntimeImpl. Operations decide; a Runtime acts. The real
// one is an OCI runtime (runc, crun) under conmon (conmon-runtime.ts); unit
// tests use an in-memory fake with the same state transitions and the same
// exit-file contract.
//
// The exit-file contract: when a container's process exits, its monitor
// writes the decimal status (128+N for signal N) to `<exitDir>/<id>` by
// rename, after all output reached attach clients. hull learns of exits only
// from those files (engine/exits), so a fake honours it the same way.
import type { TerminalSize } from "../gen/hull/v1/container.js";
import type { OciProcess } from "./spec.js";

export interface RuntimeState {
  id: string;
  pid: number;
  status: "created" | "running" | "paused" | "stopped" | string;
  bundle: string;
}

/** What the monitor needs to create (or restore) a container from a written bundle. */
export interface CreateRequest {
  id: string;
  name: string;
  bundlePath: string;
  /** Where the monitor writes `<id>` with the exit status. */
  exitDir: string;
  /** This container's own dir: the monitor writes "oom" in it when the cgroup hit OOM. */
  persistDir: string;
  /** Never bounded by the monitor: hulld rotates it (engine/log-rotator.ts). */
  logPath: string;
  tty: boolean;
  stdin: boolean;
  /**
   * Restore from a CRIU image instead of creating: the container is running
   * when create resolves.
   */
  restore?: { imagePath: string; runtimeOpts: string[] };
}

export interface Launched {
  /** The container's init pid (runtime state "created"). */
  pid: number;
  /** Its monitor's pid. */
  monitorPid: number;
}

/** A monitor process working for this hulld, found by Runtime.monitors. */
export interface MonitorProcess {
  pid: number;
  containerId: string;
  /** An exec session's monitor rather than the container's own. */
  exec: boolean;
}

export type OutputStreamName = "stdout" | "stderr";

export interface OutputHandlers {
  output(stream: OutputStreamName, data: Buffer): void;
  /** The monitor closed the connection: the process exited and all its output was delivered. */
  end(): void;
  error(err: Error): void;
}

/** A client connection to a container's stdio through its monitor. */
export interface AttachStream {
  writeStdin(data: Buffer): Promise<void>;
  /** Half-closes: the monitor closes the container's stdin (when it runs with stdin open). */
  closeStdin(): void;
  close(): void;
}

export interface ExecStart {
  containerId: string;
  containerName: string;
  sessionId: string;
  /** The session's own dir (process spec, pid files, exit dir, log). */
  sessionDir: string;
  process: OciProcess;
  stdin: boolean;
  /** 0 = none. */
  timeoutSeconds: number;
  /** Bounds the session's own log (output that reached no client, e.g. after a detach). */
  logMaxSizeBytes: number;
  /** Called for each chunk of output, from the moment the process starts. */
  output(stream: OutputStreamName, data: Buffer): void;
}

export interface ExecExit {
  /** Exit status (128+N for signal N); -1 when timed out or when its monitor vanished. */
  code: number;
  timedOut: boolean;
  /** The monitor's message with the status ("command timed out"), or why there is none. */
  message: string;
}

export interface ExecProcess {
  readonly pid: number;
  readonly conmonPid: number;
  /** Resolves once the process exited and all its output went to output() (or the client detached). */
  readonly done: Promise<ExecExit>;
  writeStdin(data: Buffer): Promise<void>;
  closeStdin(): void;
  resize(height: number, width: number): Promise<void>;
  /** SIGKILLs the process's group. */
  kill(): void;
  /** Stops receiving output; the process runs on. */
  detach(): void;
}

export interface CheckpointRequest {
  imagePath: string;
  /** CRIU's work dir (dump.log goes here). */
  workPath: string;
  leaveRunning: boolean;
  tcpEstablished: boolean;
}

/** OCI LinuxResources as `runc update --resources -` takes them. */
export type LinuxResources = Record<string, unknown>;

export interface Runtime {
  /** "runc", "crun", "fake": names the runtime in errors and spans. */
  readonly name: string;
  /** Creates the runtime container under a new monitor; the bundle's config.json is written. */
  create(req: CreateRequest): Promise<Launched>;
  start(id: string): Promise<void>;
  /** all: every process of the container (runc kill --all), which also thaws a frozen one for SIGKILL. */
  kill(id: string, signal: number, all?: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** A container that does not exist is not an error. force kills a live one first. */
  delete(id: string, force?: boolean): Promise<void>;
  /** Whether the runtime keeps state for id (cheap: no process spawn). */
  exists(id: string): Promise<boolean>;
  /** undefined when the runtime has no such container. */
  state(id: string): Promise<RuntimeState | undefined>;
  list(): Promise<RuntimeState[]>;
  update(id: string, resources: LinuxResources): Promise<void>;
  checkpoint(id: string, req: CheckpointRequest): Promise<void>;
  /** Connects to the container's stdio through its monitor. */
  attach(id: string, handlers: OutputHandlers): Promise<AttachStream>;
  /** Resizes the container's terminal (through its monitor). */
  resize(id: string, bundlePath: string, size: TerminalSize): Promise<void>;
  /** The mount options the runtime supports ("rro" for recursive read-only mounts, among others). */
  mountOptions(): Promise<string[]>;
  /** Has the monitor reopen the container's log file (after the file was rotated away). */
  reopenLog(id: string, bundlePath: string): Promise<void>;
  /** Runs a process in the running container; resolves once it runs, output already connected. */
  exec(req: ExecStart): Promise<ExecProcess>;
  /** The exit status an exec session's monitor recorded, if any (sessions outlive hulld too). */
  execExitCode(containerId: string, sessionDir: string): Promise<number | undefined>;
  /** Watches a recorded session whose monitor outlived a hulld restart; undefined when that monitor is gone. */
  rewatchExec(containerId: string, sessionDir: string): Promise<{ exited: Promise<number>; close(): void } | undefined>;
  /** Removes an ended session's files. */
  removeExecFiles(sessionId: string, sessionDir: string): Promise<void>;
  /** Every monitor this hulld's containers and exec sessions have (at start, for recovery). */
  monitors(): Promise<MonitorProcess[]>;
  /** Whether a monitor (or any) pid still runs; a zombie does not. */
  isAlive(pid: number): Promise<boolean>;
  /** Waits up to ms for each monitor to exit by itself, then kills those left; returns how many had to be killed. */
  endMonitors(pids: number[], ms?: number): Promise<number>;
  /** Per-container files the monitor leaves outside the bundle (socket links), removed with the container. */
  removeMonitorFiles(id: string): Promise<void>;
}
