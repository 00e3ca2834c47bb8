// The pure parts of exec: detach keys, runc's exec failures, session
// pruning and the exec process spec.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ContainerConfig } from "../../src/gen/hull/v1/container.js";
import type { ExecSessionRecord } from "../../src/store/record.js";
import { DEFAULT_CAPABILITIES, generateExecProcess } from "../../src/oci/spec.js";
import { commandFailureCode } from "../../src/oci/exec.js";
import { pruneSessions } from "../../src/ops/exec.js";
import { DetachMatcher, parseDetachKeys } from "../../src/domain/detach-keys.js";

describe("exec: pure parts", () => {
  it("parses detach keys and finds them across chunks", () => {
    assert.deepEqual([...parseDetachKeys("")], [16, 17]);
    assert.deepEqual([...parseDetachKeys("ctrl-a,x,ctrl-@,ctrl-_")], [1, 0x78, 0, 31]);
    assert.throws(() => parseDetachKeys("ctrl-1"), /detach_keys/);
    assert.throws(() => parseDetachKeys("ab"), /detach_keys/);
    const m = new DetachMatcher(parseDetachKeys(""));
    assert.equal(m.feed(Buffer.from("ab\x10")).toString(), "ab");
    assert.equal(m.feed(Buffer.from("c")).toString(), "\x10c", "a lone ctrl-p is passed on");
    assert.equal(m.feed(Buffer.from("d\x10")).toString(), "d");
    assert.equal(m.detached, false);
    assert.equal(m.feed(Buffer.from("\x11after")).toString(), "");
    assert.equal(m.detached, true);
    const twice = new DetachMatcher(parseDetachKeys(""));
    assert.equal(twice.feed(Buffer.from("\x10\x10\x11")).toString(), "\x10");
    assert.equal(twice.detached, true);
  });

  it("maps runc's exec failures to 127 and 126", () => {
    assert.equal(commandFailureCode('exec failed: unable to start container process: exec: "nope": executable file not found in $PATH'), 127);
    assert.equal(commandFailureCode('exec failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory'), 127);
    assert.equal(commandFailureCode('exec failed: unable to start container process: exec: "/etc": permission denied'), 126);
    assert.equal(commandFailureCode('chdir to cwd ("/nope") set in config.json failed: no such file or directory'), 127);
    assert.equal(commandFailureCode('exec failed: unable to start container process: chdir to cwd ("/etc/passwd") set in config.json failed: not a directory'), 126);
    assert.equal(commandFailureCode("exec failed: unable to start container process: some other failure"), undefined);
  });

  it("keeps running sessions and the last 10 ended ones", () => {
    const mk = (i: number, running: boolean): ExecSessionRecord => ({ id: String(i), command: ["x"], running, exitCode: 0, pid: 0 });
    const list = [mk(0, true), ...Array.from({ length: 12 }, (_, i) => mk(i + 1, false)), mk(13, true)];
    const [kept, dropped] = pruneSessions(list);
    assert.deepEqual(dropped.map((x) => x.id), ["1", "2"]);
    assert.equal(kept.length, 12);
    assert.ok(kept.some((x) => x.id === "0") && kept.some((x) => x.id === "13"));
  });

  it("builds the exec process from the container's rules", () => {
    const config = ContainerConfig.fromPartial({ command: ["sleep", "1"], env: ["A=1", "B=2"], workingDir: "/srv", hostname: "h" });
    const p = generateExecProcess({
      id: "f".repeat(64),
      config,
      user: { uid: 5, gid: 6, additionalGids: [], home: "/home/u" },
      hostLimits: { nofileHard: 1024, nprocHard: 1024 },
      command: ["sh"],
      env: ["B=3"],
      workingDir: "",
      tty: true,
      consoleSize: { height: 24, width: 80 },
    });
    assert.deepEqual(p.args, ["sh"]);
    assert.equal(p.cwd, "/srv");
    assert.equal(p.terminal, true);
    assert.deepEqual(p.consoleSize, { height: 24, width: 80 });
    assert.deepEqual(p.user, { uid: 5, gid: 6 });
    assert.ok(p.env?.includes("A=1") && p.env.includes("B=3") && !p.env.includes("B=2"));
    assert.ok(p.env?.includes("TERM=xterm") && p.env.includes("HOME=/home/u") && p.env.includes("HOSTNAME=h"));
    assert.deepEqual(p.capabilities?.bounding, [...DEFAULT_CAPABILITIES]);
    assert.equal(p.noNewPrivileges, true);
  });
});
