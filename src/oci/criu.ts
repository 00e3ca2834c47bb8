// CRIU as hull uses it: a probe (`criu check`) run once per hulld, and the
// runtime's checkpoint verb. Restore goes through conmon (`--restore`), so
// conmon stays the container's monitor as after a create.
import { runCommand } from "../command.js";
import { HullError } from "../errors.js";
import { resolveBinary, runtimeErrorText, type RuntimeCli } from "./runtime-cli.js";

export interface CriuVerdict {
  ok: boolean;
  /** Why CRIU is not usable (criu's own words, trimmed); "" when ok. */
  reason: string;
  /** The binary's path, when found. */
  binary: string;
  version: string;
}

const PROBE_TIMEOUT_MS = 30_000;
const CHECKPOINT_TIMEOUT_MS = 120_000;
const MAX_REASON = 600;

/**
 * Condenses criu's output to its distinct error messages: "Error (criu/vdso.c:381):
 * vdso: Unexpected rt vDSO area bounds" becomes "vdso: Unexpected rt vDSO area
 * bounds", and the generic "exited, status=1" lines of its helpers go.
 */
export function criuReason(output: string): string {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const errors = lines
    .filter((l) => !/^Warn/.test(l))
    .map((l) => l.replace(/^(Error|Warn)\s*\([^)]*\):\s*/, ""))
    .filter((l) => !/^exited, status=\d+$/.test(l) && !/^Version:/.test(l));
  const distinct = [...new Set(errors)];
  const text = distinct.join("; ");
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text;
}

/** Runs `criu check` once; never throws. */
export async function probeCriu(binary = "criu"): Promise<CriuVerdict> {
  let path: string;
  try {
    path = resolveBinary(binary, "criu");
  } catch (err) {
    return { ok: false, binary: "", version: "", reason: err instanceof Error ? err.message : String(err) };
  }
  const probe = await runCommand(path, ["--version"], { timeout: PROBE_TIMEOUT_MS });
  const version = /Version:\s*(\S+)/.exec(probe.stdout)?.[1] ?? "";
  const r = await runCommand(path, ["check"], { timeout: PROBE_TIMEOUT_MS });
  if (r.exitCode === 0) return { ok: true, binary: path, version, reason: "" };
  const why = criuReason(r.all) || r.ending;
  return { ok: false, binary: path, version, reason: `criu check failed: ${why}` };
}

/** The probe's verdict, computed on first use and kept for the daemon's life. */
export class CriuProbe {
  private verdict: Promise<CriuVerdict> | undefined;

  constructor(private readonly binary = "criu") {}

  get(): Promise<CriuVerdict> {
    this.verdict ??= probeCriu(this.binary);
    return this.verdict;
  }

  /** Throws FAILED_PRECONDITION CHECKPOINT_UNSUPPORTED naming the probe's reason. */
  async require(operation: "checkpoint" | "restore"): Promise<CriuVerdict> {
    const v = await this.get();
    if (v.ok) return v;
    throw new HullError("CHECKPOINT_UNSUPPORTED", `${operation} needs a working CRIU on this host: ${v.reason}`, { probe: v.reason });
  }
}

export interface CheckpointOptions {
  imagePath: string;
  /** runc's --work-path: CRIU's dump.log goes here. */
  workPath: string;
  leaveRunning: boolean;
  tcpEstablished: boolean;
}

/** `RUNTIME checkpoint`: dumps the container's processes into imagePath (and stops them unless leaveRunning). */
export async function runtimeCheckpoint(runtime: RuntimeCli, id: string, o: CheckpointOptions): Promise<void> {
  const args = [...runtime.globalArgs, "checkpoint", "--image-path", o.imagePath, "--work-path", o.workPath];
  if (o.leaveRunning) args.push("--leave-running");
  if (o.tcpEstablished) args.push("--tcp-established");
  args.push(id);
  const r = await runCommand(runtime.binaryPath, args, { timeout: CHECKPOINT_TIMEOUT_MS, cwd: "/" });
  if (r.exitCode === 0) return;
  const text = runtimeErrorText(r.stderr) || r.ending;
  const log = text.includes("dump.log") ? "" : ` (CRIU's log: ${o.workPath}/dump.log)`;
  throw new HullError("RUNTIME_ERROR", `${runtime.name} checkpoint ${id}: ${text}${log}`, { runtime: runtime.name, container: id });
}
