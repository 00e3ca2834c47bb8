// `hull run`, `hull start -a` and `hull attach` end to end: the built CLI
// against a real hulld, checking output, exit statuses, --rm, stdin, detach
// keys, and -it in a real pseudo-terminal (util-linux `script`).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { daemonSuite } from "../helpers/suite.js";
import { S, assertState, inspect } from "../helpers/fixtures.js";
import { HULL_CLI, runHull, type CliRun } from "../helpers/cli.js";

const HULL = HULL_CLI;
const CLI_TIMEOUT_MS = 60_000;

function hull(socket: string, args: string[], input?: string): Promise<CliRun> {
  return runHull(socket, args, { input });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

describe("hull run / start -a / attach", () => {
  const s = daemonSuite({ daemon: { logLevel: "warn" } });

  it("run --rm prints the output, exits with the container's status and leaves no container", async () => {
    const r = await hull(s.d.socket, ["run", "--rm", "--rootfs", s.rootfs, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.stderr, "oops\n");
    const left = await s.d.api.listContainers({});
    assert.deepEqual(
      left.containers.map((c) => c.id),
      [],
    );
  });

  it("run -i sends stdin and closes it at its end; start -a runs the container again", async () => {
    const r = await hull(s.d.socket, ["run", "-i", "--name", "catter", "--rootfs", s.rootfs, "--", "cat"], "hello\nworld\n");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\nworld\n");
    const c = await inspect(s.d.api, "catter");
    s.made.push(c.id);
    const again = await hull(s.d.socket, ["start", "-a", "-i", "catter"], "again\n");
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, "again\n");
    const noAttach = await hull(s.d.socket, ["start", "-i", "catter"]);
    assert.equal(noAttach.code, 125);
    assert.match(noAttach.stderr, /-i needs -a/);
  });

  it("attach follows a running container to its exit status, and detach keys leave it running", async () => {
    const r = await hull(s.d.socket, ["run", "-d", "-i", "--rootfs", s.rootfs, "--", "sh", "-c", "while true; do echo tick; sleep 0.1; done"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    s.made.push(id);
    assert.match(id, /^[0-9a-f]{64}$/);

    const detached = await hull(s.d.socket, ["attach", "--detach-keys", "ctrl-a,x", id], "\x01x");
    assert.equal(detached.code, 0, detached.stderr);
    assertState(await inspect(s.d.api, id), S.CONTAINER_STATE_RUNNING);

    const child = spawn(process.execPath, [HULL, "--socket", s.d.socket, "attach", "--no-stdin", id], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const ticked = new Promise<void>((resolve) =>
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("tick\n")) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await ticked;
    await s.d.api.killContainer({ id, signal: "SIGKILL" });
    assert.equal(await exited, 137);
  });

  it("run -it puts the terminal in raw mode, sends its size and restores it", async () => {
    const cmd = [
      process.execPath,
      HULL,
      "--socket",
      s.d.socket,
      "run",
      "-it",
      "--rm",
      "--rootfs",
      s.rootfs,
      "--",
      "sh",
      "-c",
      'while read x; do s=$(stty size); echo "size:$s"; [ "$s" = "33 77" ] && exit 4; done; exit 9',
    ]
      .map(shellQuote)
      .join(" ");
    // The terminal's size is set before hull starts; after it, stty -a shows whether it was restored.
    const inner = `stty rows 33 cols 77; ${cmd}; echo "status:$?"; stty -a`;
    const r = await new Promise<CliRun>((resolve, reject) => {
      const child = execFile("script", ["-qec", inner, "/dev/null"], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return reject(err);
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
      // Lines for the container's `read`, typed into the pseudo-terminal.
      child.stdin?.write("\r\r\r\r\r");
    });
    assert.match(r.stdout, /size:33 77/, r.stdout);
    assert.match(r.stdout, /status:4/, r.stdout);
    assert.match(r.stdout, /(^|[\s;])icanon/, "the terminal is back in canonical mode");
    assert.doesNotMatch(r.stdout, /-icanon/);
    const left = await s.d.api.listContainers({});
    assert.deepEqual(
      left.containers.filter((c) => !s.made.includes(c.id)).map((c) => c.id),
      [],
    );
  });

  it("refuses run --rm -d", async () => {
    const r = await hull(s.d.socket, ["run", "--rm", "-d", "--rootfs", s.rootfs, "--", "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--rm/);
  });
});
