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

/** Runs `hull --socket SOCKET ARGS...`; stdin from a file when given, else empty. */
export function runHull(socket: string, args: string[], stdinFile?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HULL_CLI, "--socket", socket, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (stdinFile) void readFile(stdinFile).then((b) => child.stdin.end(b), reject);
    else child.stdin.end();
  });
}
