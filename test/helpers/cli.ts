// Runs the built hull CLI against a daemon's socket, for CLI tests.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export const HULL_CLI = fileURLToPath(new URL("../../src/cli/hull.js", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Bytes for stdin (default: none, stdin closed at once). */
  input?: string | Buffer;
  /** A file whose bytes go to stdin, instead of input. */
  stdinFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** How long one CLI run may take before the test gives up on it. */
const CLI_TIMEOUT_MS = 60_000;

/**
 * Runs `hull --socket SOCKET ARGS...`; never rejects on a non-zero exit (the
 * tests check the code), only when the CLI cannot run or hangs.
 */
export function runHull(socket: string, args: string[], opts: CliOptions | string = {}): Promise<CliRun> {
  const o: CliOptions = typeof opts === "string" ? { stdinFile: opts } : opts;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HULL_CLI, "--socket", socket, ...args], { stdio: ["pipe", "pipe", "pipe"], env: o.env ?? process.env });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`hull ${args.join(" ")}: no exit after ${CLI_TIMEOUT_MS / 1000}s`));
    }, CLI_TIMEOUT_MS);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // The CLI may exit before reading its stdin: that EPIPE is not the test's concern.
    child.stdin.on("error", () => undefined);
    if (o.stdinFile) void readFile(o.stdinFile).then((b) => child.stdin.end(b), reject);
    else child.stdin.end(o.input ?? "");
  });
}
