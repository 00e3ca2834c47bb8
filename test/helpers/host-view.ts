// What one test hulld's containers look like from outside the daemon: runc's
// list under its runtime root, conmon processes naming its dirs, mounts under
// its roots. Always scoped to one daemon's dirs, never the whole machine.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { RUNTIME_ROOT_SUBDIR } from "./daemon.js";

const run = promisify(execFile);

export interface RuncEntry {
  id: string;
  status: string;
  pid: number;
}

export function runtimeRoot(runRoot: string): string {
  return join(runRoot, RUNTIME_ROOT_SUBDIR);
}

/** `runc list` under the daemon's runtime root. */
export async function runcList(runRoot: string): Promise<Map<string, RuncEntry>> {
  const { stdout } = await run("runc", ["--root", runtimeRoot(runRoot), "list", "--format", "json"]);
  const text = stdout.trim();
  const parsed = text === "" || text === "null" ? [] : (JSON.parse(text) as Array<{ id: string; status: string; pid: number }>);
  return new Map(parsed.map((e) => [e.id, { id: e.id, status: e.status, pid: e.pid }]));
}

/** `runc state` of one container under the daemon's runtime root; undefined when runc has none. */
export async function runcState(runRoot: string, id: string): Promise<RuncEntry | undefined> {
  try {
    const { stdout } = await run("runc", ["--root", runtimeRoot(runRoot), "state", id]);
    const s = JSON.parse(stdout) as { id: string; status: string; pid: number };
    return { id: s.id, status: s.status, pid: s.pid };
  } catch (err) {
    if (/does not exist/.test(String((err as { stderr?: string }).stderr ?? ""))) return undefined;
    throw err;
  }
}

export async function runc(runRoot: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("runc", ["--root", runtimeRoot(runRoot), ...args]);
  return stdout;
}

export interface ConmonProcess {
  pid: number;
  /** The -c argument. */
  containerId: string;
  exec: boolean;
}

/** conmon processes whose argv names a path under one of dirs. */
export async function conmonsUnder(dirs: string[]): Promise<ConmonProcess[]> {
  const out: ConmonProcess[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = (await readFile(`/proc/${name}/cmdline`, "utf8")).split("\0").filter(Boolean);
    } catch {
      continue;
    }
    if (argv.length === 0 || !basename(argv[0] ?? "").includes("conmon")) continue;
    if (!argv.some((a) => dirs.some((d) => a === d || a.startsWith(`${d}/`)))) continue;
    const c = argv.indexOf("-c");
    out.push({ pid: Number(name), containerId: c >= 0 ? (argv[c + 1] ?? "") : "", exec: argv.includes("--exec") });
  }
  return out;
}

/** Mount points at or under one of dirs. */
export async function mountsUnder(dirs: string[]): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && dirs.some((d) => p === d || p.startsWith(`${d}/`)));
}

/**
 * Creates (`runc create`, or `runc run -d` when started) a container with
 * runc directly under the daemon's runtime root, running `args` in a
 * read-only copy-free view of rootfs. The bundle goes to bundleDir.
 */
export async function runcContainer(runRoot: string, bundleDir: string, id: string, rootfs: string, args: string[], started: boolean): Promise<void> {
  await mkdir(bundleDir, { recursive: true });
  await run("runc", ["spec", "--bundle", bundleDir]);
  const specPath = join(bundleDir, "config.json");
  const spec = JSON.parse(await readFile(specPath, "utf8")) as { process: { args: string[]; terminal: boolean }; root: { path: string; readonly: boolean } };
  spec.process.args = args;
  spec.process.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  await writeFile(specPath, JSON.stringify(spec));
  // stdio to /dev/null: runc hands its own stdio to the container, which outlives this call.
  await new Promise<void>((resolve, reject) => {
    const child = spawn("runc", ["--root", runtimeRoot(runRoot), ...(started ? ["run", "-d"] : ["create"]), "--bundle", bundleDir, id], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      // The container inherited the pipe's write end: do not wait for it to close.
      setTimeout(() => child.stderr.destroy(), 100);
      if (code === 0) resolve();
      else reject(new Error(`runc ${started ? "run -d" : "create"} ${id} exited ${code}: ${stderr}`));
    });
  });
}
