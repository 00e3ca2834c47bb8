// The OCI runtime CLI (runc, crun) as hull uses it. Every call is one short
// process run; its stderr becomes the error a client sees.
import { accessSync, constants } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, delimiter, isAbsolute, join } from "node:path";
import { randomBytes } from "node:crypto";
import { runCommand } from "../command.js";
import type { Span } from "@opentelemetry/api";
import { inSpan } from "../tracing.js";
import { HullError } from "../errors.js";
import { ContainerConfig } from "../gen/hull/v1/container.js";
import { generateSpec } from "./spec.js";
import { readHostLimits } from "./hostinfo.js";
import { writeBundle } from "./bundle.js";
import type { LinuxResources, RuntimeState } from "./runtime.js";

export interface OciRuntimeOptions {
  /** "runc", "crun" (looked up on PATH) or an absolute path. */
  binary: string;
  /** The runtime's global --root: its state dir, one per hull run root. */
  root: string;
  /** "debug" turns on the runtime's --debug; other levels add nothing. */
  logLevel?: string;
}

// A daemon's PATH often lacks the sbin dirs, where Debian installs runc.
const EXTRA_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
// A runtime call that hangs (a frozen cgroup, a stuck mount) must not hold a
// container lock forever.
const CALL_TIMEOUT_MS = 60_000;
const PROBE_BUSYBOX = "/bin/busybox";

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves a program name or absolute path to an executable, or throws RUNTIME_ERROR. */
export function resolveBinary(binary: string, what = "OCI runtime"): string {
  if (binary === "") throw new HullError("RUNTIME_ERROR", `no ${what} given`);
  if (binary.includes("/")) {
    if (!isAbsolute(binary)) throw new HullError("RUNTIME_ERROR", `${what} path "${binary}" is not absolute`);
    if (!isExecutable(binary)) throw new HullError("RUNTIME_ERROR", `${what} "${binary}" does not exist or is not executable`);
    return binary;
  }
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter((d) => d !== ""), ...EXTRA_PATH];
  for (const dir of new Set(dirs)) {
    const candidate = join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  throw new HullError("RUNTIME_ERROR", `${what} "${binary}" not found on PATH (${[...new Set(dirs)].join(delimiter)}); install it or give an absolute path`);
}

/**
 * Condenses runc/crun stderr: logrus lines `time=… level=error msg="…"` and
 * JSON log lines become their messages; other text is kept as it is.
 */
export function runtimeErrorText(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const out = lines.map((line) => {
    const m = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) {
      try {
        return JSON.parse(`"${m[1]}"`) as string;
      } catch {
        return m[1] ?? line;
      }
    }
    if (line.startsWith("{")) {
      try {
        const parsed = JSON.parse(line) as { msg?: unknown };
        if (typeof parsed.msg === "string") return parsed.msg;
      } catch {
        // not JSON after all
      }
    }
    return line;
  });
  return out.join("; ");
}

function isNotExist(stderr: string): boolean {
  // runc: "container does not exist"; crun: "error opening file `<root>/<id>/status`: No such file or directory".
  return /does not exist|status.{0,3}: no such file or directory/i.test(stderr);
}

interface CallResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class RuntimeCli {
  readonly binaryPath: string;
  readonly name: string;
  readonly root: string;
  private readonly debug: boolean;

  constructor(opts: OciRuntimeOptions) {
    this.binaryPath = resolveBinary(opts.binary);
    this.name = basename(this.binaryPath);
    this.root = opts.root;
    this.debug = opts.logLevel === "debug";
  }

  /** Global arguments every invocation needs; conmon passes them through --runtime-arg. */
  get globalArgs(): string[] {
    return ["--root", this.root, ...(this.debug ? ["--debug"] : [])];
  }

  private traced<T>(verb: string, id: string, fn: (span: Span) => Promise<T>): Promise<T> {
    return inSpan(`oci.${verb}`, { "hull.container.id": id, "hull.runtime": this.name }, fn);
  }

  private async call(args: string[], timeout = CALL_TIMEOUT_MS, input?: string): Promise<CallResult> {
    const r = await runCommand(this.binaryPath, [...this.globalArgs, ...args], {
      ...(input === undefined ? {} : { input }),
      timeout,
      killAfter: 2000,
      cwd: "/",
    });
    const { stdout, stderr } = r;
    // Timed out, killed or never started: no exit status of its own; how it ended leads the text.
    if (r.timedOut || r.exitCode === undefined) return { exitCode: -1, stdout, stderr: `${r.ending} ${stderr}`.trim() };
    return { exitCode: r.exitCode, stdout, stderr };
  }

  private fail(verb: string, id: string, r: CallResult): HullError {
    const text = runtimeErrorText(r.stderr) || `exit status ${r.exitCode}`;
    const subject = id === "" ? verb : `${verb} ${id}`;
    return new HullError("RUNTIME_ERROR", `${this.name} ${subject}: ${text}`, { runtime: this.name, ...(id ? { container: id } : {}) });
  }

  /** Runs one verb whose only output is success or stderr. */
  private async simple(verb: string, id: string, args: string[], tolerateMissing = false): Promise<void> {
    await this.traced(verb, id, async () => {
      const r = await this.call(args);
      if (r.exitCode === 0) return;
      if (tolerateMissing && isNotExist(r.stderr)) return;
      throw this.fail(verb, id, r);
    });
  }

  /** The runtime's view of one container; undefined when it has no such container. */
  /**
   * Whether the runtime keeps state for id: runc and crun both hold a
   * directory per container under --root. A stat instead of a process spawn,
   * for the hot path of every init.
   */
  async exists(id: string): Promise<boolean> {
    return stat(join(this.root, id)).then(
      () => true,
      () => false,
    );
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    return this.traced("state", id, async () => {
      const r = await this.call(["state", id]);
      if (r.exitCode !== 0) {
        if (isNotExist(r.stderr)) return undefined;
        throw this.fail("state", id, r);
      }
      return parseState(r.stdout, () => this.fail("state", id, { ...r, stderr: `unparseable state: ${r.stdout.slice(0, 200)}` }));
    });
  }

  async list(): Promise<RuntimeState[]> {
    return this.traced("list", "", async () => {
      const r = await this.call(["list", "--format", "json"]);
      if (r.exitCode !== 0) throw this.fail("list", "", r);
      const text = r.stdout.trim();
      // runc prints "null" for an empty (or fresh) root.
      if (text === "" || text === "null") return [];
      const bad = (): HullError => this.fail("list", "", { ...r, stderr: `unparseable list: ${text.slice(0, 200)}` });
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw bad();
      }
      if (!Array.isArray(parsed)) throw bad();
      return parsed.map((entry) => parseState(JSON.stringify(entry), bad));
    });
  }

  async start(id: string): Promise<void> {
    await this.simple("start", id, ["start", id]);
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    await this.simple("kill", id, ["kill", ...(all ? ["--all"] : []), id, String(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.simple("pause", id, ["pause", id]);
  }

  async resume(id: string): Promise<void> {
    await this.simple("resume", id, ["resume", id]);
  }

  /** `update --resources -`: changes a live container's cgroup limits. */
  async update(id: string, resources: LinuxResources): Promise<void> {
    await this.traced("update", id, async () => {
      const r = await this.call(["update", "--resources", "-", id], CALL_TIMEOUT_MS, JSON.stringify(resources));
      if (r.exitCode !== 0) throw this.fail("update", id, r);
    });
  }

  /** Deletes the runtime container; a container that does not exist is not an error. */
  async delete(id: string, force = false): Promise<void> {
    await this.simple("delete", id, ["delete", ...(force ? ["--force"] : []), id], true);
  }

  /**
   * The mount options the runtime understands, from `runc features`
   * (runtime-spec's features document; runc 1.1 has it, marked
   * experimental). A runtime without the command reports none.
   */
  async mountOptions(): Promise<string[]> {
    const r = await this.call(["features"]);
    if (r.exitCode !== 0) return [];
    try {
      const doc = JSON.parse(r.stdout) as { mountOptions?: unknown };
      return Array.isArray(doc.mountOptions) ? doc.mountOptions.filter((o): o is string => typeof o === "string") : [];
    } catch (err) {
      throw new HullError("RUNTIME_ERROR", `${this.name} features printed no JSON: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
  }

  /**
   * Runs `true` in a throwaway busybox bundle. Answers ok=false with the
   * runtime's own words where it cannot run containers here (crun on a
   * cgroup v1 hybrid host, for one).
   */
  async probe(): Promise<{ ok: boolean; reason: string }> {
    const id = `hull-probe-${randomBytes(6).toString("hex")}`;
    return this.traced("probe", id, async () => {
      let dir: string | undefined;
      try {
        dir = await mkdtemp(join(tmpdir(), "hull-probe-"));
        const rootfs = join(dir, "rootfs");
        for (const sub of ["bin", "proc", "sys", "dev", "tmp"]) await mkdir(join(rootfs, sub), { recursive: true });
        await copyFile(PROBE_BUSYBOX, join(rootfs, "bin/busybox"));
        await writeBundle(
          dir,
          generateSpec({
            id,
            config: probeConfig(),
            rootfs,
            user: { uid: 0, gid: 0, additionalGids: [], home: "/" },
            hostLimits: await readHostLimits(),
            // A top-level leaf: delete removes it and leaves no parent dir behind.
            cgroupsPath: `/${id}`,
          }),
        );
        const r = await this.call(["run", "--bundle", dir, id], 30_000);
        if (r.exitCode === 0) return { ok: true, reason: "" };
        return { ok: false, reason: `${this.name} run: ${runtimeErrorText(r.stderr) || `exit status ${r.exitCode}`}` };
      } catch (err) {
        return { ok: false, reason: `${this.name} probe: ${err instanceof Error ? err.message : String(err)}` };
      } finally {
        await this.call(["delete", "--force", id]).catch(() => undefined);
        if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    });
  }
}

function parseState(text: string, bad: () => HullError): RuntimeState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad();
  }
  if (typeof v !== "object" || v === null) throw bad();
  const o = v as Record<string, unknown>;
  if (typeof o.id !== "string" || typeof o.status !== "string") throw bad();
  return {
    id: o.id,
    pid: typeof o.pid === "number" ? o.pid : 0,
    status: o.status,
    bundle: typeof o.bundle === "string" ? o.bundle : "",
  };
}

function probeConfig(): ContainerConfig {
  return ContainerConfig.fromPartial({ command: ["/bin/busybox", "true"] });
}
