// Running a host command (runc, conmon's siblings, CNI plugins, mount,
// umount, unshare, mknod, setfattr, criu) and collecting what it printed:
// one small wrapper over node:child_process for every layer, in place of
// execa, whose module graph cost hulld ~7 MiB of resident memory and whose
// per-call machinery sat on every runc spawn. It keeps the parts of execa's
// behaviour hull's callers rely on: output as text without its final
// newline, a timeout that sends SIGTERM and then SIGKILL, input written to
// stdin, the environment extended from hulld's unless told otherwise, and a
// result (never a rejection) that says how the command ended.
import { spawn, type ChildProcess } from "node:child_process";

export interface CommandOptions {
  /** Written to the command's stdin, which is then closed. Without it stdin is /dev/null, unless `stdin: "pipe"`. */
  input?: string;
  /** "pipe": the caller writes stdin itself (spawnCommand's `child.stdin`). */
  stdin?: "ignore" | "pipe";
  /** Milliseconds before SIGTERM; 0 or absent: no limit. */
  timeout?: number;
  /** Milliseconds from SIGTERM to SIGKILL when the timeout fired (execa's forceKillAfterDelay; 5 s as its default). */
  killAfter?: number;
  /** Variables added to hulld's environment, or the whole environment with `extendEnv: false`. */
  env?: Record<string, string>;
  extendEnv?: boolean;
  cwd?: string;
}

export interface CommandResult {
  /** Undefined when the command did not exit by itself: not started, or killed by a signal. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived (execa's `all`). */
  all: string;
  timedOut: boolean;
  /** The spawn error (ENOENT for a missing binary, EACCES...) when the command never ran. */
  error: (Error & { code?: string }) | undefined;
  /** One line saying how it ended, for error messages: "exit status 1", "killed by SIGKILL", "timed out after 5000 ms", "spawn x ENOENT". */
  ending: string;
}

/** A command that was started; `result` settles (never rejects) once it has ended and its output is read. */
export interface RunningCommand {
  child: ChildProcess;
  result: Promise<CommandResult>;
}

const DEFAULT_KILL_AFTER_MS = 5000;

function trimFinalNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

function ending(r: Omit<CommandResult, "ending">, file: string, timeout: number | undefined): string {
  if (r.error !== undefined) return r.error.message || `spawn ${file} failed`;
  if (r.timedOut) return `timed out after ${String(timeout)} ms`;
  if (r.exitCode !== undefined) return `exit status ${String(r.exitCode)}`;
  return `killed by ${r.signal ?? "a signal"}`;
}

/** Starts file with args (no shell); see CommandOptions. */
export function spawnCommand(file: string, args: readonly string[], o: CommandOptions = {}): RunningCommand {
  const env = o.env === undefined ? process.env : o.extendEnv === false ? o.env : { ...process.env, ...o.env };
  const stdin = o.input !== undefined || o.stdin === "pipe" ? "pipe" : "ignore";
  const child = spawn(file, args, { stdio: [stdin, "pipe", "pipe"], env, ...(o.cwd === undefined ? {} : { cwd: o.cwd }) });
  const result = new Promise<CommandResult>((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const all: Buffer[] = [];
    let timedOut = false;
    let spawnError: (Error & { code?: string }) | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const timer =
      o.timeout !== undefined && o.timeout > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill("SIGTERM");
            killTimer = setTimeout(() => child.kill("SIGKILL"), o.killAfter ?? DEFAULT_KILL_AFTER_MS);
            killTimer.unref();
          }, o.timeout)
        : undefined;
    child.stdout?.on("data", (c: Buffer) => (out.push(c), all.push(c)));
    child.stderr?.on("data", (c: Buffer) => (err.push(c), all.push(c)));
    // A command that exits without reading its input closes the pipe: EPIPE is its choice, not a failure of ours.
    child.stdin?.on("error", () => undefined);
    child.on("error", (e: Error & { code?: string }) => {
      spawnError ??= e;
    });
    // "close" comes after "exit" once stdout and stderr have ended, or alone after a spawn error.
    child.on("close", (code: number | null, signal: NodeJS.Signals | null) => {
      if (timer !== undefined) clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      const r = {
        exitCode: spawnError === undefined && code !== null ? code : undefined,
        signal: signal ?? undefined,
        stdout: trimFinalNewline(Buffer.concat(out).toString("utf8")),
        stderr: trimFinalNewline(Buffer.concat(err).toString("utf8")),
        all: trimFinalNewline(Buffer.concat(all).toString("utf8")),
        timedOut,
        error: spawnError,
      };
      resolve({ ...r, ending: ending(r, file, o.timeout) });
    });
  });
  if (o.input !== undefined) child.stdin?.end(o.input);
  return { child, result };
}

/** Runs a command to its end; never rejects (see CommandResult for how it ended). */
export function runCommand(file: string, args: readonly string[], o: CommandOptions = {}): Promise<CommandResult> {
  return spawnCommand(file, args, o).result;
}

/** A command that failed: its result, and the spawn error's code (ENOENT...) when it never ran. */
export class CommandError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    const text = (result.stderr || result.stdout).trim();
    super(`${command} failed: ${result.ending}${text === "" ? "" : `: ${text}`}`);
    this.name = "CommandError";
    this.code = result.error?.code;
  }
}

/** Runs a command and rejects with CommandError unless it exits 0 (execa's default `reject: true`). */
export async function runChecked(file: string, args: readonly string[], o: CommandOptions = {}): Promise<CommandResult> {
  const r = await runCommand(file, args, o);
  if (r.exitCode !== 0) throw new CommandError([file, ...args].join(" "), r);
  return r;
}
