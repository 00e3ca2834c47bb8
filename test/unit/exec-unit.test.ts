// The pure parts of exec: detach keys, runc's exec failures, session
// pruning and the exec process spec.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ContainerConfig } from "../../src/gen/hull/v1/container.js";
import type { ExecSessionRecord } from "../../src/store/record.js";
import { DEFAULT_CAPABILITIES, generateExecProcess } from "../../src/oci/spec.js";
import { commandFailureCode, runtimeLogError } from "../../src/oci/exec-failure.js";
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
    assert.equal(
      commandFailureCode('exec failed: unable to start container process: chdir to cwd ("/etc/passwd") set in config.json failed: not a directory'),
      126,
    );
    assert.equal(commandFailureCode("exec failed: unable to start container process: some other failure"), undefined);
  });

  // Captured from runc 1.1.5 under conmon 2.1.6 (ExecSync into a running
  // busybox container): conmon's sync-pipe message is the runtime's stderr
  // cut at 8191 bytes; the exec's JSON --log has the whole message.
  const PREFIX = "exec failed: unable to start container process: ";
  const a = (n: number): string => "a".repeat(n);
  const dirOf = (parts: number): string => `/${Array.from({ length: parts }, () => "abcdefghi").join("/")}`;
  const logLine = (msg: string): string => `${JSON.stringify({ level: "error", msg, time: "2026-12-03T20:08:32Z" })}\n`;

  it("maps runc's whole messages, quotes and all", () => {
    const whole: Array<[string, number]> = [
      [`${PREFIX}exec: "nosuch": executable file not found in $PATH`, 127],
      [`${PREFIX}exec: "${a(300)}": executable file not found in $PATH`, 127],
      [`${PREFIX}exec: "${a(20480)}": executable file not found in $PATH`, 127],
      [`${PREFIX}exec: "/no/such": stat /no/such: no such file or directory`, 127],
      [`${PREFIX}exec: "/noexec/x": stat /noexec/x: not a directory`, 127],
      [`${PREFIX}exec: "/${a(300)}": stat /${a(300)}: file name too long`, 127],
      [`${PREFIX}exec: "${dirOf(500)}": stat ${dirOf(500)}: file name too long`, 127],
      [`${PREFIX}exec: "/noexec": permission denied`, 126],
      [`${PREFIX}exec: "/etc": permission denied`, 126],
      [`${PREFIX}exec: "no\\"such\\\\x\\x01y": executable file not found in $PATH`, 127],
      [`${PREFIX}exec: "x\\": permission denied": executable file not found in $PATH`, 127],
      [`${PREFIX}chdir to cwd ("/no/such/dir") set in config.json failed: no such file or directory`, 127],
      [`${PREFIX}chdir to cwd ("${dirOf(400)}") set in config.json failed: no such file or directory`, 127],
      [`${PREFIX}chdir to cwd ("/${"d".repeat(300)}") set in config.json failed: file name too long`, 127],
      [`${PREFIX}chdir to cwd ("/noexec") set in config.json failed: not a directory`, 126],
      [`${PREFIX}chdir to cwd ("/noexec/x") set in config.json failed: not a directory\n`, 126],
    ];
    for (const [message, code] of whole) assert.equal(commandFailureCode(message), code, message.slice(0, 120));
  });

  it("a message cut before its reason maps to nothing; runc's log has it whole", () => {
    // The sync-pipe texts of an 8 KiB and a 20 KiB program name, a 20 KiB path, a 4,500-byte path of short parts.
    const cut = [
      `${PREFIX}exec: "${a(8136)}`,
      `${PREFIX}exec: "/${a(8135)}`,
      `${PREFIX}exec: "${dirOf(500)}": stat ${dirOf(313)}`.slice(0, 8191),
      `${PREFIX}chdir to cwd ("${dirOf(900)}`.slice(0, 8191),
      // Cut right after a quoted name that itself reads like a reason.
      `${PREFIX}exec: "x\\": permission denied`.slice(0, -3),
    ];
    for (const message of cut) {
      assert.ok(message.length <= 8191);
      assert.equal(commandFailureCode(message), undefined, message.slice(0, 120));
    }
    const log = logLine(`${PREFIX}exec: "${a(20480)}": executable file not found in $PATH`);
    assert.equal(commandFailureCode(runtimeLogError(log)), 127);
    const cwdLog = logLine(`${PREFIX}chdir to cwd ("${dirOf(900)}") set in config.json failed: no such file or directory`);
    assert.equal(commandFailureCode(runtimeLogError(cwdLog)), 127);
    // Debug lines before the error, and a half-written line, do not hide it.
    const noisy = `{"level":"debug","msg":"nsexec started","time":"x"}\n${logLine(`${PREFIX}exec: "/etc": permission denied`)}{"level":"err`;
    assert.equal(runtimeLogError(noisy), `${PREFIX}exec: "/etc": permission denied`);
    assert.equal(runtimeLogError('time="x" level=error msg="plain text log"\n'), "plain text log");
    assert.equal(runtimeLogError(""), "");
  });

  it("keeps running sessions and the last 10 ended ones", () => {
    const mk = (i: number, running: boolean): ExecSessionRecord => ({ id: String(i), command: ["x"], running, exitCode: 0, pid: 0 });
    const list = [mk(0, true), ...Array.from({ length: 12 }, (_, i) => mk(i + 1, false)), mk(13, true)];
    const [kept, dropped] = pruneSessions(list);
    assert.deepEqual(
      dropped.map((x) => x.id),
      ["1", "2"],
    );
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
