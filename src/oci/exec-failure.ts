// What a failed exec means: runc's refusal of the program or the working
// dir becomes exit status 127 or 126, as Docker and Podman report it.
import { HullError } from "../errors.js";
import { runtimeErrorText } from "./runtime-cli.js";

/** Exit statuses for a command that could not be run, as Docker and Podman report them. */
export const EXIT_CANNOT_INVOKE = 126;
export const EXIT_NOT_FOUND = 127;

/** A command the runtime could not start: reported as exit status 126/127, as Docker and Podman do. */
export class ExecCommandError extends HullError {
  constructor(
    readonly exitCode: number,
    message: string,
    metadata: Record<string, string>,
  ) {
    super("RUNTIME_ERROR", message, metadata);
  }
}

// runc 1.1's refusals of an exec's program and working dir (this machine's
// runc 1.1.5), the reason always last, after the quoted name (Go's %q:
// a quote inside it is \"):
//   exec: "PROG": executable file not found in $PATH        (a bare name)
//   exec: "PROG": stat PROG: no such file or directory       (also: not a directory, file name too long)
//   exec: "PROG": permission denied                          (not executable, or a directory)
//   chdir to cwd ("DIR") set in config.json failed: no such file or directory   (also: not a directory, file name too long)
// conmon relays only the first 8191 bytes of the runtime's stderr (one read()
// into its BUF_SIZE buffer), so a long name arrives cut: `exec: "aaaa…` with
// no closing quote and no reason. Such a text says nothing about why; the
// exec's --log file (ExecPaths.ociLog) has runc's whole message.
const QUOTED = String.raw`"(?:[^"\\]|\\.)*"`;
const RUNC_EXEC = new RegExp(String.raw`exec: ${QUOTED}: (?:stat [\s\S]*: )?([^:]*)$`);
const RUNC_CHDIR = new RegExp(String.raw`chdir to cwd \(${QUOTED}\) set in config\.json failed: ([^:]*)$`);
/** A runc exec refusal that names the program or the working dir, complete or cut. */
const RUNC_COMMAND_REFUSAL = /exec: "|chdir to cwd \("/;

const PROGRAM_REASONS: Readonly<Record<string, number>> = {
  "executable file not found in $PATH": EXIT_NOT_FOUND,
  "no such file or directory": EXIT_NOT_FOUND,
  // Docker's answers: a path through a file, or a name no file system can hold, names no program.
  "not a directory": EXIT_NOT_FOUND,
  "file name too long": EXIT_NOT_FOUND,
  "permission denied": EXIT_CANNOT_INVOKE,
  "is a directory": EXIT_CANNOT_INVOKE,
  "exec format error": EXIT_CANNOT_INVOKE,
};
// A working directory the container lacks: Podman answers 127 ("attempted to invoke a command that was not found").
const CWD_REASONS: Readonly<Record<string, number>> = {
  "no such file or directory": EXIT_NOT_FOUND,
  "file name too long": EXIT_NOT_FOUND,
  "not a directory": EXIT_CANNOT_INVOKE,
  "permission denied": EXIT_CANNOT_INVOKE,
};

/**
 * Classifies the runtime's exec failure: missing program or working dir →
 * 127, not executable or not a dir → 126; undefined when the text does not
 * say (another failure, or a runc message cut before its reason).
 */
export function commandFailureCode(message: string): number | undefined {
  const text = message.trim();
  const program = RUNC_EXEC.exec(text);
  if (program) return PROGRAM_REASONS[(program[1] ?? "").trim()];
  const cwd = RUNC_CHDIR.exec(text);
  if (cwd) return CWD_REASONS[(cwd[1] ?? "").trim()];
  // A runc refusal without its closing quote and reason: cut short, so it says nothing.
  if (RUNC_COMMAND_REFUSAL.test(text)) return undefined;
  // Other runtimes (crun: "executable file `PROG` not found in $PATH: No such file or directory").
  if (/executable file .*not found in \$PATH/i.test(text)) return EXIT_NOT_FOUND;
  return undefined;
}

/**
 * The runtime's error from its JSON --log file: the last line at level
 * error or fatal (runc logs one on a failed exec, whole, however long),
 * else every line's message.
 */
export function runtimeLogError(log: string): string {
  let last = "";
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if ((entry.level === "error" || entry.level === "fatal") && typeof entry.msg === "string") last = entry.msg;
    } catch {
      // a line cut by a full disk: the others still count
    }
  }
  return last !== "" ? last : runtimeErrorText(log);
}

// runc 1.1's own refusals of an exec for the container's state (exec.go):
//   cannot exec in a paused container (use --ignore-paused to override)
//   cannot exec in a stopped container
// They say what the state was when runc looked, which a later look cannot
// (a Pause and an Unpause from other clients may both land in between).
const RUNC_STATE_REFUSAL = /cannot exec in a (paused|stopped) container/;

/** The container state a runtime's exec refusal names, if it names one. */
export function execStateRefusal(message: string): "paused" | "stopped" | undefined {
  const m = RUNC_STATE_REFUSAL.exec(message);
  return m ? (m[1] as "paused" | "stopped") : undefined;
}
