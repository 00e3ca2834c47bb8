// An in-memory Runtime for unit tests: runc's state transitions and
// refusals, and conmon's exit-file contract (the status written by rename,
// temp name "<id>.XXXXXX", once the process is gone), without processes.
// Tests script the processes (behave, exit, execBehaviour), break things
// (killMonitor, failNext) and read what hull asked for (calls).
import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TerminalSize } from "../../src/gen/hull/v1/container.js";
import { HullError } from "../../src/errors.js";
import type { AttachStream, CheckpointRequest, CreateRequest, ExecExit, ExecProcess, ExecStart, Launched } from "../../src/oci/runtime.js";
import type { LinuxResources, MonitorProcess, OutputHandlers, OutputStreamName, Runtime, RuntimeState } from "../../src/oci/runtime.js";

/** behave()'s key for every container without its own behaviour. */
export const ALL = "*";
const SIGKILL = 9;

export interface Behaviour {
  /** What the process does with a signal other than SIGKILL; default "exit". */
  onSignal?: (signal: number) => "exit" | "ignore";
  /** Its exit status when a signal ends it; default 128+signal. */
  exitCodeOnSignal?: (signal: number) => number;
  /** Exits by itself this long after start, with exitCode (default 0). */
  exitAfterStartMs?: number;
  exitCode?: number;
}

export interface ExecScript {
  code: number;
  stdout?: string;
  stderr?: string;
}

export type FakeCall = readonly [string, ...Array<string | number>];
type Method = Exclude<keyof Runtime, "name">;
type Status = "created" | "running" | "paused" | "stopped";

interface FakeContainer {
  id: string;
  pid: number;
  monitorPid: number;
  status: Status;
  bundle: string;
  exitDir: string;
  monitorAlive: boolean;
  /** Signals sent while frozen: delivered at the thaw. */
  pending: number[];
  timer?: NodeJS.Timeout;
  attached: Set<OutputHandlers>;
}

interface FakeSession {
  containerId: string;
  monitorPid: number;
  code?: number;
  exited: Promise<number>;
  finish(code: number): void;
}

/** What runc state says: a stopped container has no pid. */
function view(c: FakeContainer): RuntimeState {
  return { id: c.id, pid: c.status === "stopped" ? 0 : c.pid, status: c.status, bundle: c.bundle };
}

function refusal(verb: string, id: string, text: string): HullError {
  return new HullError("RUNTIME_ERROR", `fake ${verb} ${id}: ${text}`, { runtime: "fake", container: id });
}

export class FakeRuntime implements Runtime {
  readonly name = "fake";
  /** Every call that acts (not state/list/exists/monitors/isAlive), in order; flags as words: ["delete", id, "force"]. */
  readonly calls: FakeCall[] = [];
  /** What an exec runs; by default it exits 0 with no output. */
  execBehaviour: (req: ExecStart) => ExecScript = () => ({ code: 0 });
  /** Checkpoint refuses with CHECKPOINT_UNSUPPORTED unless set. */
  checkpointSupported = false;
  /** Data written to each container's stdin through attach. */
  readonly stdin = new Map<string, Buffer[]>();
  private readonly containers = new Map<string, FakeContainer>();
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly failures = new Map<Method, Array<{ err: unknown; first?: () => void }>>();
  private readonly sessions = new Map<string, FakeSession>();
  private readonly writes = new Set<Promise<void>>();
  /** Called once each exit file is in place (renamed to its final name). */
  onExitFile: (id: string, path: string) => void = () => undefined;
  /** Exit files that could not be written (the test's dirs removed under it). */
  readonly writeErrors: unknown[] = [];
  private nextPid = 1000;

  behave(idOrAll: string, behaviour: Behaviour): void {
    this.behaviours.set(idOrAll, behaviour);
  }

  /**
   * The next call of method throws err (after being logged), changing
   * nothing; first() runs as the call arrives (e.g. the process exits, the
   * race that made runc refuse).
   */
  failNext(method: Method, err: unknown, first?: () => void): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), { err, first }]);
  }

  /** The process exits by itself. */
  exit(id: string, code: number): void {
    const c = this.must("exit", id);
    if (c.status !== "stopped") this.end(c, code);
  }

  /** Kills the monitor behind hull's back: the process runs on, and no exit file will ever come. */
  killMonitor(id: string): void {
    this.must("killMonitor", id).monitorAlive = false;
  }

  /** Output from the container's process to every attached client. */
  output(id: string, stream: OutputStreamName, data: string | Buffer): void {
    for (const h of this.must("output", id).attached) h.output(stream, Buffer.from(data));
  }

  /** Calls of one method: callsOf("kill") → [["kill", id, 15], ["kill", id, 9, "all"], ...]. */
  callsOf(method: Method): FakeCall[] {
    return this.calls.filter((c) => c[0] === method);
  }

  /** Waits for exit files being written. */
  async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.all([...this.writes]);
  }

  /** Stops every timer and waits for exit files being written. */
  async close(): Promise<void> {
    for (const c of this.containers.values()) clearTimeout(c.timer);
    await this.settled();
  }

  async create(req: CreateRequest): Promise<Launched> {
    this.begin("create", req.id);
    if (this.containers.has(req.id)) throw refusal("create", req.id, "container with given ID already exists");
    const c: FakeContainer = {
      id: req.id,
      pid: this.nextPid++,
      monitorPid: this.nextPid++,
      status: req.restore ? "running" : "created",
      bundle: req.bundlePath,
      exitDir: req.exitDir,
      monitorAlive: true,
      pending: [],
      attached: new Set(),
    };
    this.containers.set(req.id, c);
    if (req.restore) this.scheduleExit(c);
    return { pid: c.pid, monitorPid: c.monitorPid };
  }

  async start(id: string): Promise<void> {
    const c = this.live("start", id);
    if (c.status === "stopped") throw refusal("start", id, "cannot start a container that has stopped");
    if (c.status !== "created") throw refusal("start", id, "cannot start an already running container");
    c.status = "running";
    this.scheduleExit(c);
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    const c = this.live("kill", id, signal, ...(all ? ["all"] : []));
    if (c.status === "stopped") throw refusal("kill", id, "container not running");
    // runc kill --all freezes, signals and thaws the whole cgroup: a paused container comes out thawed.
    if (c.status === "paused" && all) c.status = "running";
    this.deliver(c, signal);
  }

  async pause(id: string): Promise<void> {
    const c = this.live("pause", id);
    if (c.status !== "running") throw refusal("pause", id, "container not running");
    c.status = "paused";
  }

  async resume(id: string): Promise<void> {
    const c = this.live("resume", id);
    if (c.status !== "paused") throw refusal("resume", id, "container not paused");
    c.status = "running";
    for (const signal of c.pending.splice(0)) this.deliver(c, signal);
  }

  async delete(id: string, force = false): Promise<void> {
    this.begin("delete", id, ...(force ? ["force"] : []));
    const c = this.containers.get(id);
    if (!c) return;
    if ((c.status === "running" || c.status === "paused") && !force)
      throw refusal("delete", id, `cannot delete container ${id} that is not stopped: ${c.status}`);
    // runc deletes a created container by killing its init, as --force kills a live one.
    if (c.status !== "stopped") this.end(c, 128 + SIGKILL);
    this.containers.delete(id);
  }

  async exists(id: string): Promise<boolean> {
    return this.containers.has(id);
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    const c = this.containers.get(id);
    return c && view(c);
  }

  async list(): Promise<RuntimeState[]> {
    return [...this.containers.values()].map(view);
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    const c = this.live("update", id, JSON.stringify(resources));
    if (c.status === "stopped") throw refusal("update", id, "container not running");
  }

  async checkpoint(id: string, req: CheckpointRequest): Promise<void> {
    const c = this.live("checkpoint", id);
    if (!this.checkpointSupported) throw new HullError("CHECKPOINT_UNSUPPORTED", "fake: checkpoint/restore is not supported", { container: id });
    if (c.status !== "running") throw refusal("checkpoint", id, "container not running");
    if (!req.leaveRunning) this.end(c, 128 + SIGKILL);
  }

  async attach(id: string, handlers: OutputHandlers): Promise<AttachStream> {
    const c = this.live("attach", id);
    if (c.status === "stopped") throw refusal("attach", id, "connect to the attach socket: connection refused");
    c.attached.add(handlers);
    return {
      writeStdin: async (data) => void this.stdin.set(id, [...(this.stdin.get(id) ?? []), data]),
      closeStdin: () => void this.calls.push(["closeStdin", id]),
      close: () => void c.attached.delete(handlers),
    };
  }

  async resize(id: string, _bundlePath: string, size: TerminalSize): Promise<void> {
    this.live("resize", id, size.height, size.width);
  }

  /** As runc 1.1.5 answers `runc features` here (the options hull relies on). */
  async mountOptions(): Promise<string[]> {
    return ["ro", "rw", "rbind", "rprivate", "rro"];
  }

  async reopenLog(id: string): Promise<void> {
    this.live("reopenLog", id);
  }

  async exec(req: ExecStart): Promise<ExecProcess> {
    const c = this.live("exec", req.containerId, ...req.process.args);
    // runc's exec.go refusals, word for word.
    if (c.status === "paused") throw refusal("exec", req.containerId, "cannot exec in a paused container (use --ignore-paused to override)");
    if (c.status !== "running") throw refusal("exec", req.containerId, "cannot exec in a stopped container");
    let finish: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => (finish = resolve));
    const session: FakeSession = { containerId: c.id, monitorPid: this.nextPid++, exited, finish: (code) => ((session.code ??= code), finish(session.code)) };
    this.sessions.set(req.sessionDir, session);
    const script = this.execBehaviour(req);
    setImmediate(() => {
      if (script.stdout !== undefined) req.output("stdout", Buffer.from(script.stdout));
      if (script.stderr !== undefined) req.output("stderr", Buffer.from(script.stderr));
      session.finish(script.code);
    });
    return {
      pid: this.nextPid++,
      conmonPid: session.monitorPid,
      done: exited.then((code): ExecExit => ({ code, timedOut: false, message: "" })),
      writeStdin: async () => undefined,
      closeStdin: () => undefined,
      resize: async () => undefined,
      kill: () => session.finish(128 + SIGKILL),
      detach: () => undefined,
    };
  }

  async execExitCode(_containerId: string, sessionDir: string): Promise<number | undefined> {
    return this.sessions.get(sessionDir)?.code;
  }

  async rewatchExec(_containerId: string, sessionDir: string): Promise<{ exited: Promise<number>; close(): void } | undefined> {
    const s = this.sessions.get(sessionDir);
    return s && s.code === undefined ? { exited: s.exited, close: () => undefined } : undefined;
  }

  async removeExecFiles(sessionId: string, sessionDir: string): Promise<void> {
    this.begin("removeExecFiles", sessionId);
    this.sessions.delete(sessionDir);
  }

  async monitors(): Promise<MonitorProcess[]> {
    const own = [...this.containers.values()].filter((c) => c.monitorAlive).map((c) => ({ pid: c.monitorPid, containerId: c.id, exec: false }));
    const execs = [...this.sessions.values()].filter((s) => s.code === undefined).map((s) => ({ pid: s.monitorPid, containerId: s.containerId, exec: true }));
    return [...own, ...execs];
  }

  async isAlive(pid: number): Promise<boolean> {
    return (await this.monitors()).some((m) => m.pid === pid) || [...this.containers.values()].some((c) => c.pid === pid && c.status !== "stopped");
  }

  async endMonitors(pids: number[]): Promise<number> {
    this.begin("endMonitors", ...pids);
    const own = [...this.containers.values()].filter((c) => c.monitorAlive && pids.includes(c.monitorPid));
    const execs = [...this.sessions.values()].filter((s) => s.code === undefined && pids.includes(s.monitorPid));
    for (const c of own) c.monitorAlive = false;
    for (const s of execs) s.finish(-1);
    return own.length + execs.length;
  }

  async removeMonitorFiles(id: string): Promise<void> {
    this.begin("removeMonitorFiles", id);
  }

  /** Logs the call and throws an injected failure, if one is queued. */
  private begin(method: Method, ...args: Array<string | number>): void {
    this.calls.push([method, ...args]);
    const failure = this.failures.get(method)?.shift();
    if (failure === undefined) return;
    failure.first?.();
    throw failure.err;
  }

  /** begin(), then the container, or runc's refusal for a missing one. */
  private live(method: Method, id: string, ...args: Array<string | number>): FakeContainer {
    this.begin(method, id, ...args);
    const c = this.containers.get(id);
    if (!c) throw refusal(method, id, "container does not exist");
    return c;
  }

  private must(what: string, id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`fake runtime: ${what}: no container ${id}`);
    return c;
  }

  private behaviourOf(id: string): Behaviour {
    return this.behaviours.get(id) ?? this.behaviours.get(ALL) ?? {};
  }

  private scheduleExit(c: FakeContainer): void {
    const b = this.behaviourOf(c.id);
    if (b.exitAfterStartMs === undefined) return;
    c.timer = setTimeout(() => {
      if (c.status === "running") this.end(c, b.exitCode ?? 0);
    }, b.exitAfterStartMs);
  }

  private deliver(c: FakeContainer, signal: number): void {
    if (signal === 0) return;
    // A frozen process acts on nothing until thawed.
    if (c.status === "paused") return void c.pending.push(signal);
    if (signal === SIGKILL) return this.end(c, 128 + SIGKILL);
    // A created container's process is runc's init, pid 1 of its namespace: only SIGKILL ends it.
    if (c.status === "created") return;
    const b = this.behaviourOf(c.id);
    if ((b.onSignal?.(signal) ?? "exit") === "exit") this.end(c, b.exitCodeOnSignal?.(signal) ?? 128 + signal);
  }

  /** The process is gone: its exec sessions die with it, then the monitor writes the exit file (if it lives) and exits. */
  private end(c: FakeContainer, code: number): void {
    c.status = "stopped";
    c.pending = [];
    clearTimeout(c.timer);
    for (const s of this.sessions.values()) if (s.containerId === c.id) s.finish(128 + SIGKILL);
    for (const h of c.attached) h.end();
    c.attached.clear();
    if (!c.monitorAlive) return;
    const write = this.writeExitFile(c, code)
      .catch((err: unknown) => void this.writeErrors.push(err))
      .finally(() => {
        c.monitorAlive = false;
        this.writes.delete(write);
      });
    this.writes.add(write);
  }

  /** As conmon (g_file_set_contents): "<id>.XXXXXX" then rename, so the final name only ever holds the whole status. */
  private async writeExitFile(c: FakeContainer, code: number): Promise<void> {
    const tmp = join(c.exitDir, `${c.id}.${randomBytes(3).toString("hex")}`);
    try {
      await writeFile(tmp, String(code));
      await rename(tmp, join(c.exitDir, c.id));
      this.onExitFile(c.id, join(c.exitDir, c.id));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
