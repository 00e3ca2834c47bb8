// `hull checkpoint`, `hull restore`, `hull export` to a pipe and `hull system
// df`: the built CLI against a real hulld.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { lstat, mkdtemp, readFile, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeCriu } from "../../src/oci/criu.js";
import { daemonSuite } from "../helpers/suite.js";
import { create, createStarted, must, uniqueName, until, SLEEP } from "../helpers/fixtures.js";
import { imageApi } from "../helpers/images.js";
import { humanSize } from "../../src/cli/system-cmd.js";
import { HULL_CLI, runHull, type CliRun } from "../helpers/cli.js";

const HULL = HULL_CLI;
const CLI_TIMEOUT_MS = 60_000;

function hull(socket: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return runHull(socket, args, { env });
}

describe("hull checkpoint / restore", () => {
  const s = daemonSuite();

  it("print CHECKPOINT_UNSUPPORTED and exit 125 where CRIU is not usable", async (t) => {
    const v = await probeCriu();
    if (v.ok) {
      t.skip("CRIU works on this host: the refusal cannot be seen here");
      return;
    }
    const c = await createStarted(s.api, s.rootfs, SLEEP);
    s.made.push(c.id);
    const target = join(tmpdir(), `hull-cli-ckpt-${process.pid}.tar`);
    const runs: [string, string[]][] = [
      ["checkpoint", ["checkpoint", "--leave-running", "--tcp-established", "--keep", "-e", target, c.id]],
      ["checkpoint in place", ["checkpoint", c.id]],
      ["restore --import", ["restore", "--import", target, "--name", uniqueName("r"), "--ignore-rootfs"]],
      ["restore in place", ["restore", "--keep", c.id]],
    ];
    for (const [what, args] of runs) {
      const r = await hull(s.d.socket, args);
      assert.equal(r.code, 125, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
      assert.match(r.stderr, /^Error: .*needs a working CRIU on this host/, what);
      assert.ok(r.stderr.includes(v.reason), `${what}: names the probe's reason: ${r.stderr}`);
      assert.equal(r.stdout, "", what);
    }
    await assert.rejects(lstat(target), "no archive written");
  });

  it("refuses a restore with neither an id nor --import as the daemon does (INVALID_ARGUMENT target_file)", async () => {
    const r = await hull(s.d.socket, ["restore"]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /target_file/);
  });
});

describe("hull export to a pipe", () => {
  const s = daemonSuite();

  it("exits 0 without an error when the reader closes the pipe early (`| head -c 10`)", async () => {
    const c = await create(s.api, s.rootfs, SLEEP);
    s.made.push(c.id);
    const child = spawn(process.execPath, [HULL, "--socket", s.d.socket, "export", c.id], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    // Read the first bytes, then close the pipe: what `head -c 10` does.
    const [first] = (await once(child.stdout, "data")) as [Buffer];
    assert.ok(first.length > 0);
    child.stdout.destroy();
    const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
    assert.equal(signal, null, `killed by ${signal}; stderr: ${stderr}`);
    assert.equal(code, 0, `exit ${code}; stderr: ${stderr}`);
    assert.equal(stderr, "");
  });

  it("exits 0 in a real shell pipeline into head -c 10", async () => {
    const c = await create(s.api, s.rootfs, SLEEP);
    s.made.push(c.id);
    const script = `set -o pipefail; "$0" "$1" --socket "$2" export "$3" | head -c 10 | wc -c`;
    const r = await new Promise<CliRun>((resolve, reject) => {
      execFile("bash", ["-c", script, process.execPath, HULL, s.d.socket, c.id], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return reject(err);
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
    });
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.equal(r.stdout.trim(), "10");
    assert.equal(r.stderr, "");
  });
});

interface Df {
  images: { count: number; blobBytes: number; layerBytes: number; layers: number };
  containers: { count: number; bytes: number };
  logs: { count: number; bytes: number };
}

describe("hull system df", () => {
  let work: string | undefined;
  const s = daemonSuite({ extraDirs: () => (work ? [work] : []) });
  const df = async (args: string[] = [], env?: NodeJS.ProcessEnv): Promise<Df> => {
    const r = await hull(s.d.socket, ["system", "df", "--format", "json", ...args], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Df;
  };
  const BIG = 2_000_000;

  it("counts images, containers (with their overlay upper dirs) and logs under a real daemon's root", async () => {
    work = await mkdtemp(join(tmpdir(), "hull-df-"));
    const tarball = join(work, "busybox.tar");
    await promisify(execFile)("tar", ["-C", s.rootfs, "-cf", tarball, "."]);
    const images = imageApi(s.d.socket);
    try {
      await images.importStream(await readFile(tarball), "dfbox");
    } finally {
      images.close();
    }
    const tarSize = (await lstat(tarball)).size;
    await rm(tarball);

    const logged = await createStarted(s.api, s.rootfs, ["sh", "-c", "echo hello from df; sleep 1000"]);
    s.made.push(logged.id);
    // Writes into the image container's root: its overlay upper dir grows by BIG bytes.
    const c = must(
      (
        await s.api.createContainer({
          config: { name: uniqueName("df"), image: "dfbox", command: ["sh", "-c", `head -c ${BIG} /dev/urandom > /big.bin && sleep 1000`] },
        })
      ).container,
      "container",
    );
    s.made.push(c.id);
    await s.api.startContainer({ id: c.id });

    const u = await until("the big file and the log line to be on disk", async () => {
      const v = await df(["--root", s.d.root]);
      return v.containers.bytes >= BIG && v.logs.bytes > 0 ? v : undefined;
    });
    assert.equal(u.images.count, 1);
    assert.equal(u.images.layers, 1);
    assert.ok(u.images.blobBytes >= tarSize, `blobs ${u.images.blobBytes} hold the ${tarSize}-byte layer`);
    assert.ok(u.images.layerBytes > 0);
    assert.equal(u.containers.count, 2);
    // The mounted overlay (merged dir) is another file system: its image files are not counted again.
    assert.ok(u.containers.bytes < BIG + u.images.layerBytes, `containers ${u.containers.bytes} do not include the merged view`);
    assert.equal(u.logs.count, 2);

    // HULL_ROOT stands for --root; the table has the same numbers.
    const viaEnv = await df([], { ...process.env, HULL_ROOT: s.d.root });
    assert.equal(viaEnv.images.count, 1);
    assert.equal(viaEnv.containers.count, 2);
    const table = await hull(s.d.socket, ["system", "df", "--root", s.d.root]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout
      .trimEnd()
      .split("\n")
      .map((l) => l.split(/\s+/));
    assert.deepEqual(
      lines.map((l) => l.slice(0, 2)),
      [
        ["TYPE", "TOTAL"],
        ["Images", "1"],
        ["Containers", "2"],
        ["Logs", "2"],
      ],
    );
  });

  it("says why it cannot read a root, with status 125", async () => {
    const r = await hull(s.d.socket, ["system", "df", "--root", "/nonexistent-hull-root"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: disk usage: cannot read the state root \/nonexistent-hull-root/);
  });

  it("prints sizes in podman's decimal units", () => {
    assert.equal(humanSize(0), "0B");
    assert.equal(humanSize(999), "999B");
    assert.equal(humanSize(1000), "1kB");
    assert.equal(humanSize(2_345_678), "2.35MB");
  });
});
