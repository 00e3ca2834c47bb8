// The fake runtime itself (test/helpers/fake-runtime.ts): the transitions
// and refusals runc has, and conmon's exit-file contract as ExitWatcher and
// readExitFile read it. The operations' tests are only as good as this.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { HullError } from "../../src/errors.js";
import { ExitWatcher, readExitFile } from "../../src/oci/exits.js";
import type { CreateRequest } from "../../src/oci/runtime.js";
import { FakeRuntime } from "../helpers/fake-runtime.js";

async function withDir(fn: (dir: string, fake: FakeRuntime) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "hull-fakert-"));
  const fake = new FakeRuntime();
  try {
    await fn(dir, fake);
  } finally {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const req = (id: string, exitDir: string): CreateRequest => ({
  id,
  name: id,
  bundlePath: `/bundles/${id}`,
  exitDir,
  persistDir: join(exitDir, "p"),
  logPath: "/dev/null",
  tty: false,
  stdin: false,
});

async function refusal(p: Promise<unknown>, text: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof HullError && err.reason === "RUNTIME_ERROR" && text.test(err.message));
}

describe("FakeRuntime", () => {
  it("walks runc's states and refuses what runc refuses", () =>
    withDir(async (dir, fake) => {
      await fake.create(req("a", dir));
      assert.equal((await fake.state("a"))?.status, "created");
      await refusal(fake.pause("a"), /container not running/);
      await refusal(fake.create(req("a", dir)), /already exists/);
      await fake.start("a");
      await refusal(fake.start("a"), /already running/);
      await refusal(fake.resume("a"), /not paused/);
      await fake.pause("a");
      assert.equal((await fake.state("a"))?.status, "paused");
      await refusal(fake.delete("a"), /not stopped: paused/);
      await fake.resume("a");
      assert.equal((await fake.state("a"))?.status, "running");
      await fake.kill("a", 15);
      assert.equal((await fake.state("a"))?.status, "stopped");
      await refusal(fake.kill("a", 9), /container not running/);
      await refusal(fake.pause("a"), /container not running/);
      await refusal(fake.start("a"), /has stopped/);
      await fake.delete("a");
      assert.equal(await fake.state("a"), undefined);
      assert.equal(await fake.exists("a"), false);
      await fake.delete("a", true);
      await refusal(fake.kill("a", 9), /does not exist/);
      assert.deepEqual(await fake.list(), []);
      assert.deepEqual(fake.calls.slice(0, 3), [
        ["create", "a"],
        ["pause", "a"],
        ["create", "a"],
      ]);
    }));

  it("writes the exit status by rename, as conmon does: the watcher and readExitFile see only the whole file", () =>
    withDir(async (dir, fake) => {
      const watcher = new ExitWatcher(dir);
      await watcher.start();
      try {
        await fake.create(req("b", dir));
        await fake.start("b");
        const exited = once(watcher, "exit");
        await fake.kill("b", 15);
        assert.deepEqual(await exited, ["b", 143]);
        await fake.settled();
        assert.equal(await readExitFile(dir, "b"), 143);
        assert.deepEqual(await readdir(dir), ["b"], "no temp file left");
        assert.equal(await fake.isAlive((await fake.create(req("c", dir))).monitorPid), true);
      } finally {
        watcher.stop();
      }
    }));

  it("scripted signals; SIGKILL always ends; a created init ignores all but SIGKILL; kill --all thaws a paused one", () =>
    withDir(async (dir, fake) => {
      fake.behave("d", { onSignal: (s) => (s === 15 ? "ignore" : "exit"), exitCodeOnSignal: () => 7 });
      await fake.create(req("d", dir));
      await fake.kill("d", 15);
      assert.equal((await fake.state("d"))?.status, "created");
      await fake.start("d");
      await fake.kill("d", 15);
      assert.equal((await fake.state("d"))?.status, "running");
      await fake.pause("d");
      await fake.kill("d", 2);
      assert.equal((await fake.state("d"))?.status, "paused", "a frozen process acts on nothing");
      await fake.kill("d", 9, true);
      await fake.settled();
      assert.equal(await readExitFile(dir, "d"), 137, "SIGKILL ends it whatever the script; kill --all thawed it");
      await fake.create(req("e", dir));
      await fake.start("e");
      await fake.pause("e");
      await fake.kill("e", 2);
      await fake.resume("e");
      await fake.settled();
      assert.equal(await readExitFile(dir, "e"), 130, "the signal sent while frozen lands at the thaw");
    }));

  it("a killed monitor writes no exit file and is not alive; exitAfterStartMs ends the process by itself", () =>
    withDir(async (dir, fake) => {
      const { monitorPid } = await fake.create(req("f", dir));
      await fake.start("f");
      fake.killMonitor("f");
      assert.equal(await fake.isAlive(monitorPid), false);
      assert.deepEqual(await fake.monitors(), []);
      fake.exit("f", 3);
      await fake.settled();
      assert.equal(await readExitFile(dir, "f"), undefined);
      assert.equal((await fake.state("f"))?.status, "stopped");

      fake.behave("g", { exitAfterStartMs: 1, exitCode: 4 });
      await fake.create(req("g", dir));
      await fake.start("g");
      await new Promise((r) => setTimeout(r, 30));
      await fake.settled();
      assert.equal(await readExitFile(dir, "g"), 4);
    }));

  it("injected failures, exec, attach and checkpoint", () =>
    withDir(async (dir, fake) => {
      await fake.create(req("h", dir));
      fake.failNext("start", new HullError("RUNTIME_ERROR", "injected"));
      await refusal(fake.start("h"), /injected/);
      assert.equal((await fake.state("h"))?.status, "created", "a failed call changes nothing");
      await fake.start("h");
      const out: string[] = [];
      const ended: string[] = [];
      const stream = await fake.attach("h", { output: (s, d) => out.push(`${s}:${d.toString()}`), end: () => ended.push("end"), error: () => undefined });
      fake.output("h", "stdout", "hello");
      await stream.writeStdin(Buffer.from("in"));
      assert.deepEqual(out, ["stdout:hello"]);
      assert.deepEqual(fake.stdin.get("h"), [Buffer.from("in")]);
      fake.execBehaviour = () => ({ code: 5, stdout: "x" });
      const execOut: string[] = [];
      const proc = await fake.exec({
        containerId: "h",
        containerName: "h",
        sessionId: "s1",
        sessionDir: "/sess/s1",
        process: { user: { uid: 0, gid: 0 }, args: ["true"], cwd: "/" },
        stdin: false,
        timeoutSeconds: 0,
        logMaxSizeBytes: 0,
        output: (_s, d) => execOut.push(d.toString()),
      });
      assert.deepEqual(await proc.done, { code: 5, timedOut: false, message: "" });
      assert.deepEqual(execOut, ["x"]);
      assert.equal(await fake.execExitCode("h", "/sess/s1"), 5);
      assert.equal(await fake.rewatchExec("h", "/sess/s1"), undefined);
      await assert.rejects(
        fake.checkpoint("h", { imagePath: dir, workPath: dir, leaveRunning: false, tcpEstablished: false }),
        (e: unknown) => e instanceof HullError && e.reason === "CHECKPOINT_UNSUPPORTED",
      );
      fake.exit("h", 0);
      assert.deepEqual(ended, ["end"], "the process's end closes attach streams");
    }));
});
