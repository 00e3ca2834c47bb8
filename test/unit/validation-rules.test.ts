// The pure validation rules (src/validation/): examples at the edges, and
// fast-check properties over random and adversarial strings: what a rule
// accepts has the shape it promises, anything with a NUL is refused, ".."
// never gets through a path, and a refusal names its field and quotes a
// bounded part of the value.
// The request validators built on these rules are in validation-requests.test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BatchOperationKind } from "../../src/gen/hull/v1/container.js";
import * as r from "../../src/validation/rules.js";
import { validateContainerConfig } from "../../src/validation/container-config.js";
import * as v from "../../src/validation/requests.js";
import { accepted, config, refusal, refused } from "../helpers/validation-checks.js";

/** Strings built to hurt: NUL, climbing paths, huge, unicode, control bytes. */
const adversarial = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom("", ".", "..", "../../etc/passwd", "/etc/passwd", "a\0b", "\0", "/a/../b", "é", "日本", "a".repeat(70_000), "\u202e", "\r\n", "-x", " "),
  fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\0${b}`),
  fc.array(fc.constantFrom("..", ".", "a", "", "etc"), { maxLength: 8 }).map((p) => `/${p.join("/")}`),
);
const withNul = fc.tuple(fc.string({ unit: "binary" }), fc.string({ unit: "binary" })).map(([a, b]) => `${a}\0${b}`);

describe("validation rules (pure)", () => {
  it("names: accepted exactly when Podman's pattern matches and at most 253 characters", () => {
    fc.assert(
      fc.property(adversarial, (s) => {
        const ok = refusal(() => r.checkName("name", s)) === undefined;
        assert.equal(ok, r.NAME_PATTERN.test(s) && s.length <= 253, JSON.stringify(s.slice(0, 40)));
      }),
      { numRuns: 500 },
    );
    fc.assert(fc.property(fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$/), (s) => accepted(() => r.checkName("name", s))));
    refused(() => r.checkName("config.name", "a".repeat(254)), "config.name");
  });

  it("every string with a NUL byte is refused by every string rule", () => {
    const rules: Array<(s: string) => unknown> = [
      (s) => r.checkText("f", s),
      (s) => r.checkContainerRef("f", s),
      (s) => r.checkName("f", s),
      (s) => r.checkAbsolutePath("f", s),
      (s) => r.checkHostFilePath("f", s),
      (s) => r.checkArgv("f", ["sh", s], true),
      (s) => r.checkArgv("f", [s], true),
      (s) => r.checkEnv("f", [s]),
      (s) => r.checkEnv("f", [`K=${s}`]),
      (s) => r.checkUser("f", s),
      (s) => r.checkHostname("f", s),
      (s) => r.checkSignal("f", s),
      (s) => r.checkDetachKeys("f", s),
      (s) => r.checkStringMap("f", { [s]: "v" }),
      (s) => r.checkStringMap("f", { k: s }),
      (s) => r.checkImageRef("f", s),
      (s) => r.checkFileName("f", s),
      (s) => r.checkIdPrefix("f", s),
    ];
    fc.assert(
      fc.property(withNul, fc.integer({ min: 0, max: rules.length - 1 }), (s, i) => refused(() => rules[i]?.(s))),
      { numRuns: 1000 },
    );
  });

  it('paths: accepted only when absolute with no ".." component and at most PATH_MAX bytes', () => {
    fc.assert(
      fc.property(adversarial, (p) => {
        if (refusal(() => r.checkAbsolutePath("f", p)) !== undefined) return;
        assert.ok(p.startsWith("/"), p);
        assert.ok(!p.split("/").includes(".."), p);
        assert.ok(!p.includes("\0"));
        assert.ok(Buffer.byteLength(p) <= r.MAX_PATH_BYTES);
      }),
      { numRuns: 1000 },
    );
    const segments = fc.array(fc.oneof(fc.constantFrom("a", "b.c", ".", ""), fc.stringMatching(/^[a-z]{1,8}$/)), { maxLength: 6 });
    fc.assert(
      fc.property(segments, segments, (before, after) => {
        refused(() => r.checkAbsolutePath("config.working_dir", `/${[...before, "..", ...after].join("/")}`), "config.working_dir");
      }),
    );
    refused(() => r.checkAbsolutePath("f", "relative/x"), "f");
    refused(() => r.checkAbsolutePath("f", ""), "f");
    refused(() => r.checkAbsolutePath("f", `/${"a".repeat(4096)}`), "f");
    refused(() => r.checkHostFilePath("target_file", "/tmp/dir/"), "target_file");
    accepted(() => r.checkAbsolutePath("f", "/a/.../b/./c"));
  });

  it("env: accepted entries are KEY=VALUE with a non-empty key", () => {
    fc.assert(
      fc.property(adversarial, (e) => {
        if (refusal(() => r.checkEnv("env", [e])) !== undefined) return;
        assert.ok(e.indexOf("=") > 0, e);
        assert.ok(!e.includes("\0"));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/), fc.string(), (k, val) => {
        if (!val.includes("\0")) accepted(() => r.checkEnv("env", [`${k}=${val}`]));
      }),
    );
    refused(() => r.checkEnv("config.env", ["A=1", "B=2", "C=3", "NOEQUALS"]), "config.env[3]");
    refused(() => r.checkEnv("env", ["=x"]), "env[0]");
    accepted(() => r.checkEnv("env", ["A==b", "A="]));
  });

  it("argv: a program first, no NUL in any argument, bounded sizes", () => {
    refused(() => r.checkArgv("command", [], true), "command");
    accepted(() => r.checkArgv("command", [], false));
    refused(() => r.checkArgv("command", [""], true), "command[0]");
    refused(() => r.checkArgv("command", ["sh", "-c", "a\0b"], true), "command[2]");
    refused(() => r.checkArgv("command", ["x".repeat(128 * 1024)], true), "command[0]");
    refused(
      () =>
        r.checkArgv(
          "command",
          Array.from({ length: r.MAX_ARGS + 1 }, () => "a"),
          true,
        ),
      "command",
    );
    refused(
      () =>
        r.checkProcessSize(
          "command",
          Array.from({ length: 10 }, () => "x".repeat(120_000)),
          [],
        ),
      "command",
    );
  });

  it("program and working dir: no path component over NAME_MAX, no path over PATH_MAX - 1 (what the kernel would refuse)", () => {
    const name = (n: number): string => "a".repeat(n);
    // A bare name is one component (PATH lookup joins it to each dir); a path is split on "/".
    accepted(() => r.checkArgv("command", [name(255)], true));
    refused(() => r.checkArgv("command", [name(256)], true), "command[0]");
    refused(() => r.checkArgv("command", [name(100 * 1024)], true), "command[0]");
    refused(() => r.checkArgv("command", [`/bin/${name(256)}`], true), "command[0]");
    refused(() => r.checkArgv("command", [`bin/${name(20 * 1024)}`], true), "command[0]");
    // Multi-byte UTF-8: 128 "é" are 256 bytes.
    refused(() => r.checkArgv("command", ["é".repeat(128)], true), "command[0]");
    accepted(() => r.checkArgv("command", ["sh", "-c", name(100 * 1024)], true));
    const shortParts = (total: number): string => `/${Array.from({ length: Math.ceil(total / 10) }, () => "abcdefghi").join("/")}`.slice(0, total);
    accepted(() => r.checkArgv("command", [shortParts(4095)], true));
    refused(() => r.checkArgv("command", [shortParts(4096)], true), "command[0]");
    // working_dir, in an exec and in a config.
    const exec = { id: "x", command: ["true"], env: [], workingDir: "", user: "", timeoutSeconds: 0 };
    accepted(() => v.validateExecSyncRequest({ ...exec, workingDir: shortParts(4001) }));
    accepted(() => v.validateExecSyncRequest({ ...exec, workingDir: shortParts(4095) }));
    refused(() => v.validateExecSyncRequest({ ...exec, workingDir: shortParts(4096) }), "working_dir");
    refused(() => v.validateExecSyncRequest({ ...exec, workingDir: `/${name(100 * 1024)}` }), "working_dir");
    refused(() => v.validateExecSyncRequest({ ...exec, workingDir: `/tmp/${name(256)}/x` }), "working_dir");
    accepted(() => v.validateExecSyncRequest({ ...exec, workingDir: `/tmp/${name(255)}/x` }));
    refused(() => v.validateExecSyncRequest({ ...exec, command: [name(8 * 1024)] }), "command[0]");
    const open = { id: "x", command: ["sh"], env: [], workingDir: "", user: "", tty: false, stdin: false, detachKeys: "" };
    refused(() => v.validateExecOpen({ ...open, command: [name(300)] }), "open.command[0]");
    refused(() => v.validateExecOpen({ ...open, workingDir: `/${name(300)}` }), "open.working_dir");
    refused(() => validateContainerConfig(config({ command: [`/${name(300)}`] })), "config.command[0]");
    refused(() => validateContainerConfig(config({ workingDir: `/${name(300)}` })), "config.working_dir");
    refused(() => validateContainerConfig(config({ workingDir: shortParts(4096) })), "config.working_dir");
    // Property: an accepted program or working dir has no component over 255 bytes and fits PATH_MAX.
    const part = fc.oneof(fc.string({ unit: "grapheme", maxLength: 8 }), fc.constantFrom(name(255), name(256), "é".repeat(128), "é".repeat(127)));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 20 }), fc.boolean(), (parts, absolute) => {
        const p = `${absolute ? "/" : ""}${parts.join("/")}`;
        const fits = (s: string): void => {
          assert.ok(
            s.split("/").every((c) => Buffer.byteLength(c) <= 255),
            s,
          );
          if (s.includes("/")) assert.ok(Buffer.byteLength(s) <= 4095);
        };
        if (refusal(() => r.checkArgv("command", [p], true)) === undefined) fits(p);
        if (refusal(() => r.checkAbsolutePath("working_dir", p)) === undefined) fits(p);
      }),
      { numRuns: 500 },
    );
  });

  it("argv and env: MAX_ARG_STRLEN per string, and the total with NULs and pointers within MAX_PROCESS_BYTES", () => {
    // 131072 bytes with the NUL is the kernel's largest string.
    accepted(() => r.checkArgv("command", ["sh", "x".repeat(131_071)], true));
    refused(() => r.checkArgv("command", ["sh", "x".repeat(131_072)], true), "command[1]");
    accepted(() => r.checkEnv("env", [`A=${"x".repeat(131_069)}`]));
    refused(() => r.checkEnv("env", [`A=${"x".repeat(131_070)}`]), "env[0]");
    // Eight 131071-byte strings are 1 MiB with their NULs; their pointers push them over.
    const eight = Array.from({ length: 8 }, () => "x".repeat(131_071));
    refused(() => r.checkProcessSize("command", eight, []), "command");
    accepted(() => r.checkProcessSize("command", eight.slice(1), ["A=b"]));
    // Many short strings: 8192 of 126 bytes fit 1 MiB with their NULs, not with their pointers.
    refused(
      () =>
        r.checkProcessSize(
          "command",
          Array.from({ length: 4096 }, () => "x".repeat(126)),
          Array.from({ length: 4096 }, () => `A=${"x".repeat(124)}`),
        ),
      "command",
    );
    const exec = {
      id: "x",
      command: ["sh", ...eight.slice(0, 4)],
      env: eight.slice(0, 4).map((e) => `A=${e.slice(2)}`),
      workingDir: "",
      user: "",
      timeoutSeconds: 0,
    };
    refused(() => v.validateExecSyncRequest(exec), "command");
  });

  it("signals: accepted values are 1..64; names, SIG-prefixed names and numbers", () => {
    for (let n = 1; n <= 64; n++) assert.equal(r.checkSignal("signal", String(n)), n);
    for (const name of ["TERM", "SIGKILL", "sigusr1", "RTMIN+2", "SIGRTMAX-1"]) accepted(() => r.checkSignal("signal", name));
    fc.assert(
      fc.property(adversarial, (s) => {
        let n: number | undefined;
        if (refusal(() => (n = r.checkSignal("stop_signal", s))) !== undefined) return;
        assert.ok(n !== undefined && n >= 1 && n <= 64, s);
      }),
      { numRuns: 1000 },
    );
    fc.assert(fc.property(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65 })), (n) => refused(() => r.checkSignal("signal", String(n)), "signal")));
    refused(() => r.checkSignal("operations[2].signal", "SIGFOO"), "operations[2].signal");
  });

  it("terminal sizes: both dimensions in 1..65535", () => {
    const dim = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.constantFrom(0, 1, 65535, 65536, Number.NaN, 1.5));
    fc.assert(
      fc.property(dim, dim, (height, width) => {
        const ok = refusal(() => r.checkTerminalSize("size", { height, width })) === undefined;
        const inRange = (x: number): boolean => Number.isInteger(x) && x >= 1 && x <= 65535;
        assert.equal(ok, inRange(height) && inRange(width));
      }),
    );
    refused(() => r.checkTerminalSize("size", undefined), "size");
    refused(() => r.checkTerminalSize("resize", { height: 24, width: 0 }), "resize.width");
  });

  it("timeouts, enums and counts are bounded", () => {
    accepted(() => r.checkTimeout("t", undefined, 10));
    accepted(() => r.checkTimeout("t", 10, 10));
    refused(() => r.checkTimeout("t", 11, 10), "t");
    refused(() => r.checkTimeout("t", -1, 10), "t");
    refused(() => r.checkTimeout("t", 2 ** 32 - 1, r.MAX_STOP_TIMEOUT_SECONDS), "t");
    accepted(() => r.checkEnum("kind", BatchOperationKind.BATCH_OPERATION_KIND_KILL, BatchOperationKind));
    refused(() => r.checkEnum("kind", 0, BatchOperationKind), "kind");
    refused(() => r.checkEnum("kind", 999, BatchOperationKind), "kind");
    refused(() => r.checkCount("xs", [1, 2, 3], 2), "xs");
  });

  it("host names follow RFC 1123", () => {
    for (const ok of ["a", "web-1", "a.b.c", "x".repeat(63), "1abc"]) accepted(() => r.checkHostname("hostname", ok));
    for (const bad of ["-a", "a-", "a..b", ".a", "a_b", "x".repeat(64), `${"a.".repeat(127)}a`, "é"])
      refused(() => r.checkHostname("hostname", bad), "hostname");
    fc.assert(
      fc.property(adversarial, (h) => {
        if (h === "" || refusal(() => r.checkHostname("hostname", h)) !== undefined) return;
        assert.ok(h.length <= 253 && /^[a-zA-Z0-9.-]+$/.test(h) && !h.startsWith("-") && !h.includes(".."), h);
      }),
      { numRuns: 500 },
    );
  });

  it("labels and annotations: non-empty keys of at most 253 bytes, bounded values, no NUL", () => {
    accepted(() => r.checkStringMap("labels", { "app.kubernetes.io/name": "x", k: "" }));
    refused(() => r.checkStringMap("config.labels", { "": "x" }), "config.labels");
    refused(() => r.checkStringMap("labels", { ["k".repeat(254)]: "x" }));
    refused(() => r.checkStringMap("labels", { k: "v".repeat(64 * 1024 + 1) }));
    refused(() => r.checkStringMap("labels", Object.fromEntries(Array.from({ length: r.MAX_LABELS + 1 }, (_, i) => [`k${i}`, ""]))), "labels");
  });

  it("container references, id prefixes, image references and file names", () => {
    for (const ok of ["a".repeat(64), "abc", "my_ctr.1-x"]) accepted(() => r.checkContainerRef("id", ok));
    for (const bad of ["", "../x", "a/b", "a b", "x".repeat(254)]) refused(() => r.checkContainerRef("id", bad), "id");
    accepted(() => r.checkIdPrefix("id_prefix", ""));
    refused(() => r.checkIdPrefix("id_prefix", "ABC"), "id_prefix");
    for (const ok of ["busybox", "localhost:5000/a/b:1", "sha256:abcd", "abcd12"]) accepted(() => r.checkImageRef("image", ok));
    for (const bad of ["", "/etc/passwd", "a b", "x".repeat(256)]) refused(() => r.checkImageRef("image", bad), "image");
    fc.assert(
      fc.property(adversarial, (n) => {
        if (refusal(() => r.checkFileName("name", n)) !== undefined) return;
        assert.ok(!n.includes("/") && n !== "." && n !== ".." && Buffer.byteLength(n) <= 255, n);
      }),
      { numRuns: 1000 },
    );
  });

  it("a refusal quotes a bounded part of a huge value", () => {
    const huge = fc
      .tuple(fc.string({ unit: "binary", minLength: 1 }), fc.constantFrom("\0", "/", " ", "..", "="))
      .map(([s, bad]) => `${bad}${s.repeat(1 + Math.ceil(300_000 / s.length))}`);
    const rules: Array<(s: string) => unknown> = [
      (s) => r.checkName("f", s),
      (s) => r.checkContainerRef("f", s),
      (s) => r.checkAbsolutePath("f", s),
      (s) => r.checkEnv("f", [s]),
      (s) => r.checkSignal("f", s),
      (s) => r.checkHostname("f", s),
      (s) => r.checkUser("f", s),
      (s) => r.checkImageRef("f", s),
      (s) => r.checkFileName("f", s),
      (s) => r.checkDetachKeys("f", s),
      (s) => validateContainerConfig(config({ name: s })),
      (s) => validateContainerConfig(config({ workingDir: s })),
      (s) => validateContainerConfig(config({ rootfsPath: s })),
      (s) => validateContainerConfig(config({ mounts: [{ type: "bind", source: s, destination: "/x", options: [] }] })),
    ];
    fc.assert(
      fc.property(huge, fc.integer({ min: 0, max: rules.length - 1 }), (s, i) => {
        const got = refusal(() => rules[i]?.(s));
        assert.ok(got, `rule ${i} refused a ${s.length}-character value`);
        assert.ok(got.message.length < 1024, `rule ${i}: message of ${got.message.length} characters`);
      }),
      { numRuns: 200 },
    );
  });
});
