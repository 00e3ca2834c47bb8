// The host-command wrapper every layer runs runc, mount and CNI plugins
// through: what callers read from a result (exit status, output without its
// final newline, how it ended) and the rejection of runChecked, on real
// processes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CommandError, runChecked, runCommand } from "../../src/command.js";

describe("runCommand", () => {
  it("gives the exit status and each stream without its final newline", async () => {
    const r = await runCommand("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, "out");
    assert.equal(r.stderr, "err");
    assert.equal(r.all, "out\nerr");
    assert.equal(r.ending, "exit status 3");
  });

  it("writes input to stdin and closes it", async () => {
    const r = await runCommand("/bin/cat", [], { input: "line one\nline two\n" });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "line one\nline two");
  });

  it("passes the environment whole with extendEnv false, on top of hulld's otherwise", async () => {
    const only = await runCommand("/usr/bin/env", [], { env: { HULL_ONLY: "1" }, extendEnv: false });
    assert.equal(only.stdout, "HULL_ONLY=1");
    const extended = await runCommand("/usr/bin/env", [], { env: { HULL_EXTRA: "2" } });
    assert.ok(extended.stdout.split("\n").includes("HULL_EXTRA=2"));
    assert.ok(extended.stdout.split("\n").some((l) => l.startsWith("PATH=")));
  });

  it("kills a command that ignores SIGTERM once the timeout and the kill delay have passed", async () => {
    const r = await runCommand("/bin/sh", ["-c", "trap '' TERM; sleep 30"], { timeout: 100, killAfter: 100 });
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, undefined);
    assert.equal(r.signal, "SIGKILL");
    assert.equal(r.ending, "timed out after 100 ms");
  });

  it("reports a missing binary as its spawn error, without rejecting", async () => {
    const r = await runCommand("/nonexistent/hull-no-such-binary", []);
    assert.equal(r.exitCode, undefined);
    assert.equal(r.error?.code, "ENOENT");
    assert.match(r.ending, /ENOENT/);
  });
});

describe("runChecked", () => {
  it("rejects a failing command with its stderr in the message", async () => {
    await assert.rejects(runChecked("/bin/sh", ["-c", "echo bad thing >&2; exit 1"]), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.result.exitCode, 1);
      assert.match(err.message, /exit status 1: bad thing$/);
      return true;
    });
  });

  it("carries the spawn error's code, as callers tell a missing tool apart", async () => {
    await assert.rejects(runChecked("hull-no-such-tool", []), (err: unknown) => err instanceof CommandError && err.code === "ENOENT");
  });

  it("resolves with the output of a command that exits 0", async () => {
    assert.equal((await runChecked("/bin/echo", ["ok"])).stdout, "ok");
  });
});
