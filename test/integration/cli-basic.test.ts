// The `hull` CLI end to end: the built binary against a real hulld, checking
// what people and scripts see: stdout, stderr and podman's exit codes.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { daemonSuite } from "../helpers/suite.js";
import { runHull, type CliRun } from "../helpers/cli.js";

function hull(socket: string, ...args: string[]): Promise<CliRun> {
  return runHull(socket, args);
}

function ok(r: CliRun, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r.stdout.trim();
}

interface JsonContainer {
  id: string;
  name?: string;
  state?: string;
  exitCode?: number;
  config?: {
    command?: string[];
    env?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    restartPolicy?: { name?: string; maxRetries?: number };
    mounts?: { source?: string; destination?: string; options?: string[] }[];
    resources?: { memoryLimitBytes?: number | string; pidsLimit?: number | string };
    stopTimeoutSeconds?: number;
    workingDir?: string;
    hostname?: string;
    networkMode?: string;
    readOnlyRootfs?: boolean;
  };
}

function parseContainers(text: string): JsonContainer[] {
  const parsed: unknown = JSON.parse(text);
  assert.ok(Array.isArray(parsed), `expected a JSON array, got: ${text.slice(0, 200)}`);
  return parsed as JsonContainer[];
}

describe("hull CLI", () => {
  let scratch: string;
  /** Removed through the CLI after the suite. */
  const made: string[] = [];
  const run = (...args: string[]): Promise<CliRun> => hull(s.d.socket, ...args);

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "hull-cli-"));
  });

  const s = daemonSuite({
    extraDirs: () => [scratch],
    beforeCleanup: async () => {
      for (const id of made) await run("rm", "-f", "-t", "0", id).catch(() => undefined);
    },
  });

  it("creates, starts, waits, inspects, lists, refuses a second stop and removes", async () => {
    const id = ok(await run("create", "--rootfs", s.rootfs, "--", "sh", "-c", "echo out; echo err >&2; exit 7"), "create");
    assert.match(id, /^[0-9a-f]{64}$/, "create prints the full id");
    made.push(id);

    assert.equal(ok(await run("start", id), "start"), id);
    assert.equal(ok(await run("wait", id), "wait"), "7");

    const [inspected] = parseContainers(ok(await run("inspect", id), "inspect"));
    assert.equal(inspected?.id, id);
    assert.equal(inspected?.exitCode, 7);
    assert.deepEqual(inspected?.config?.command, ["sh", "-c", "echo out; echo err >&2; exit 7"]);

    const listed = parseContainers(ok(await run("ps", "-a", "--format", "json"), "ps -a --format json"));
    assert.ok(
      listed.some((c) => c.id === id),
      "ps -a --format json lists it",
    );

    const table = ok(await run("ps", "-a"), "ps -a");
    const header = table.split("\n")[0] ?? "";
    for (const col of ["CONTAINER ID", "NAME", "COMMAND", "CREATED", "STATUS", "RESTARTS"]) assert.ok(header.includes(col), `header has ${col}: ${header}`);
    const row = table.split("\n").find((l) => l.startsWith(id.slice(0, 12)));
    assert.ok(row, `ps -a has a row for ${id.slice(0, 12)}:\n${table}`);
    assert.match(row, /Exited \(7\) .*ago/);
    assert.ok(!row.includes(id), "ids are truncated to 12 without --no-trunc");
    assert.ok(!ok(await run("ps"), "ps").includes(id.slice(0, 12)), "ps without -a hides exited containers");

    const stop = await run("stop", id);
    assert.equal(stop.code, 125, `stop of an exited container: ${JSON.stringify(stop)}`);
    assert.match(stop.stderr, /^Error: /);
    assert.ok(
      stop.stderr.includes(id.slice(0, 12)) || (inspected?.name !== undefined && stop.stderr.includes(inspected.name)),
      `names the container: ${stop.stderr}`,
    );
    assert.equal(stop.stdout, "");

    assert.equal(ok(await run("rm", id), "rm"), id);
    const gone = await run("inspect", id);
    assert.notEqual(gone.code, 0, "inspect after rm fails");
  });

  it("fails clearly for a container that does not exist", async () => {
    const r = await run("inspect", "nosuch");
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*nosuch/m);
    const rmMissing = await run("rm", "nosuch");
    assert.equal(rmMissing.code, 1, "rm of a missing container exits 1, as podman rm");
  });

  it("maps create's flags onto the container config", async () => {
    const name = `cli-${process.pid}`;
    const id = ok(
      await run(
        "create",
        "--name",
        name,
        "--rootfs",
        s.rootfs,
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "-l",
        "tier=web",
        "-l",
        "bare",
        "--annotation",
        "note=x",
        "-w",
        "/tmp",
        "--hostname",
        "box",
        "--stop-timeout",
        "3",
        "--restart",
        "on-failure:2",
        "-v",
        `${scratch}:/data:ro`,
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--network",
        "none",
        "--read-only",
        "--",
        "sleep",
        "1000",
      ),
      "create with flags",
    );
    made.push(id);
    const [c] = parseContainers(ok(await run("inspect", name), "inspect by name"));
    const cfg = c?.config;
    assert.equal(c?.name, name);
    assert.deepEqual(cfg?.command, ["sleep", "1000"]);
    assert.ok(cfg?.env?.includes("A=1") && cfg.env.includes("B=two words"), `env: ${JSON.stringify(cfg?.env)}`);
    assert.deepEqual(cfg?.labels, { tier: "web", bare: "" });
    assert.deepEqual(cfg?.annotations, { note: "x" });
    assert.equal(cfg?.workingDir, "/tmp");
    assert.equal(cfg?.hostname, "box");
    assert.equal(cfg?.stopTimeoutSeconds, 3);
    assert.deepEqual(cfg?.restartPolicy, { name: "on-failure", maxRetries: 2 });
    assert.deepEqual(
      cfg?.mounts?.map((m) => [m.source, m.destination, m.options]),
      [[scratch, "/data", ["ro"]]],
    );
    assert.equal(Number(cfg?.resources?.memoryLimitBytes), 64 * 1024 * 1024);
    assert.equal(Number(cfg?.resources?.pidsLimit), 50);
    assert.equal(cfg?.networkMode, "none");
    assert.equal(cfg?.readOnlyRootfs, true);

    const byName = parseContainers(ok(await run("ps", "-a", "--filter", `name=${name}`, "--format", "json"), "ps --filter name"));
    assert.deepEqual(
      byName.map((x) => x.id),
      [id],
    );
    const byLabel = parseContainers(ok(await run("ps", "-a", "--filter", "label=tier=web", "--format", "json"), "ps --filter label"));
    assert.ok(byLabel.some((x) => x.id === id));
  });

  it("kills a running container, refuses a plain rm of it, and force-removes it", async () => {
    const id = ok(await run("create", "--rootfs", s.rootfs, "--", "sleep", "1000"), "create");
    made.push(id);
    assert.equal(ok(await run("start", id.slice(0, 16)), "start by prefix"), id.slice(0, 16));
    const running = ok(await run("ps"), "ps");
    assert.match(running.split("\n").find((l) => l.startsWith(id.slice(0, 12))) ?? "", /Up /, `ps shows it running:\n${running}`);

    const rmRunning = await run("rm", id);
    assert.equal(rmRunning.code, 2, `rm of a running container exits 2, as podman rm: ${rmRunning.stderr}`);
    assert.match(rmRunning.stderr, /^Error: /);

    assert.equal(ok(await run("kill", "-s", "KILL", id), "kill"), id);
    assert.equal(ok(await run("wait", id), "wait after kill"), "137");
    assert.equal(ok(await run("rm", "-f", id), "rm -f"), id);
  });

  it("reports usage errors and an unreachable daemon with exit 125", async () => {
    const usage = await run("create", "--rootfs", s.rootfs);
    assert.equal(usage.code, 125);
    assert.match(usage.stderr, /Error: .*command/);
    const badFlag = await run("ps", "--format", "xml");
    assert.equal(badFlag.code, 125);
    const unknown = await run("frobnicate");
    assert.equal(unknown.code, 125);

    const missing = join(scratch, "no.sock");
    const down = await hull(missing, "ps");
    assert.equal(down.code, 125);
    assert.equal(down.stderr.trim(), `Error: cannot connect to hulld at ${missing}: no such socket (is hulld running?)`);
  });
});
