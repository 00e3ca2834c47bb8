// The pure validation rules (src/validation/): examples at the edges, and
// fast-check properties over random and adversarial strings: what a rule
// accepts has the shape it promises, anything with a NUL is refused, ".."
// never gets through a path, and a refusal names its field and quotes a
// bounded part of the value.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { HullError } from "../../src/errors.js";
import { BatchOperationKind, ContainerState, Resources, type ContainerConfig } from "../../src/gen/hull/v1/container.js";
import { ContainerConfig as ConfigFns } from "../../src/gen/hull/v1/container.js";
import * as r from "../../src/validation/rules.js";
import { validateContainerConfig } from "../../src/validation/container-config.js";
import * as v from "../../src/validation/requests.js";
import * as img from "../../src/validation/image-requests.js";
import { rejectUndecodable, tolerantDefinition } from "../../src/validation/wire.js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { ContainerServiceService } from "../../src/gen/hull/v1/container.js";

/** The field an INVALID_ARGUMENT names, or undefined when fn accepts. Anything else thrown fails the test. */
function refusal(fn: () => unknown): { field: string; message: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof HullError && err.reason === "INVALID_ARGUMENT", `expected INVALID_ARGUMENT, got ${String(err)}`);
    assert.ok(err.metadata.field !== undefined && err.metadata.field !== "", `the refusal names its field: ${err.message}`);
    return { field: err.metadata.field, message: err.message };
  }
}

function refused(fn: () => unknown, field?: string): void {
  const got = refusal(fn);
  assert.ok(got, "expected a refusal");
  if (field !== undefined) assert.equal(got.field, field, got.message);
}

function accepted(fn: () => unknown): void {
  const got = refusal(fn);
  assert.equal(got, undefined, got?.message);
}

const config = (extra: Partial<ContainerConfig> = {}): ContainerConfig => ConfigFns.fromPartial({ rootfsPath: "/tmp/rootfs", command: ["sh"], ...extra });

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

describe("request validators (pure)", () => {
  it("a container config's refusals name the field under config.", () => {
    refused(() => v.validateCreateRequest({ config: undefined }), "config");
    refused(() => validateContainerConfig(config({ env: ["A=1", "B=2", "C=3", "bad"] })), "config.env[3]");
    refused(() => validateContainerConfig(config({ command: ["sh", "a\0"] })), "config.command[1]");
    refused(() => validateContainerConfig(config({ rootfsPath: "/a/../etc" })), "config.rootfs_path");
    refused(() => validateContainerConfig(config({ image: "busybox" })), "config.rootfs_path");
    accepted(() => validateContainerConfig(config({ rootfsPath: "", image: "busybox", command: [] })));
    refused(() => validateContainerConfig(config({ rootfsPath: "", image: "../../etc" })), "config.image");
    refused(() => validateContainerConfig(config({ hostname: "a_b" })), "config.hostname");
    refused(() => validateContainerConfig(config({ stopSignal: "SIGFOO" })), "config.stop_signal");
    refused(() => validateContainerConfig(config({ stopTimeoutSeconds: 2 ** 32 - 1 })), "config.stop_timeout_seconds");
    refused(() => validateContainerConfig(config({ restartPolicy: { name: "always", maxRetries: 3 } })), "config.restart_policy.max_retries");
    refused(() => validateContainerConfig(config({ dependsOn: ["ok", "../x"] })), "config.depends_on[1]");
    refused(
      () => validateContainerConfig(config({ mounts: [{ type: "bind", source: "/tmp", destination: "rel", options: [] }] })),
      "config.mounts[0].destination",
    );
    refused(() => validateContainerConfig(config({ mounts: [{ type: "nfs", source: "/tmp", destination: "/x", options: [] }] })), "config.mounts[0].type");
    refused(
      () =>
        validateContainerConfig(
          config({ resources: Resources.fromPartial({ memoryLimitBytes: -1, cpuShares: 0, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit: 0 }) }),
        ),
      "config.resources.memory_limit_bytes",
    );
    refused(
      () =>
        validateContainerConfig(
          config({ resources: Resources.fromPartial({ memoryLimitBytes: 0, cpuShares: 2 ** 40, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit: 0 }) }),
        ),
      "config.resources.cpu_shares",
    );
    refused(() => validateContainerConfig(config({ networkMode: "bridge" })), "config.network_mode");
    refused(() => validateContainerConfig(config({ logMaxSizeBytes: -5 })), "config.log_max_size_bytes");
    refused(() => validateContainerConfig(config({ logMaxFiles: 2 })), "config.log_max_files");
    refused(() => validateContainerConfig(config({ logMaxSizeBytes: 4096, logMaxFiles: -1 })), "config.log_max_files");
    refused(() => validateContainerConfig(config({ logMaxSizeBytes: 4096, logMaxFiles: 65 })), "config.log_max_files");
    accepted(() => validateContainerConfig(config({ logMaxSizeBytes: 4096, logMaxFiles: 64 })));
    accepted(() =>
      validateContainerConfig(
        config({ resources: Resources.fromPartial({ memoryLimitBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: -1, cpuPeriodUs: 100_000, pidsLimit: -1 }) }),
      ),
    );
  });

  it("ContainerService requests", () => {
    refused(() => v.validateStopRequest({ id: "x", timeoutSeconds: 86_401 }), "timeout_seconds");
    accepted(() => v.validateStopRequest({ id: "x", timeoutSeconds: 0 }));
    refused(() => v.validateKillRequest({ id: "x", signal: "0" }), "signal");
    accepted(() => v.validateKillRequest({ id: "x", signal: "" }));
    refused(() => v.validateWaitRequest({ id: "x", condition: 77 as ContainerState }), "condition");
    refused(() => v.validateListRequest({ states: [ContainerState.CONTAINER_STATE_UNSPECIFIED], labels: {}, name: "", idPrefix: "" }), "states[0]");
    refused(() => v.validateBatchRequest({ id: "x", operations: [] }), "operations");
    const kill = (signal: string): { kind: BatchOperationKind; signal: string } => ({ kind: BatchOperationKind.BATCH_OPERATION_KIND_KILL, signal });
    refused(() => v.validateBatchRequest({ id: "x", operations: [kill("TERM"), kill("SIGFOO")] }), "operations[1].signal");
    refused(() => v.validateBatchRequest({ id: "x", operations: [{ kind: 42 as BatchOperationKind, signal: "" }] }), "operations[0].kind");
    refused(() => v.validatePutArtifactRequest({ id: "x", name: "../../x", data: Buffer.alloc(0) }), "name");
    refused(
      () => v.validateCheckpointRequest({ id: "x", keep: false, keepRunning: false, tcpEstablished: false, targetFile: "rel.tar", ignoreRootfs: false }),
      "target_file",
    );
    const restore = {
      id: "",
      keep: false,
      tcpEstablished: false,
      targetFile: "",
      name: "",
      ignoreRootfs: false,
      ignoreStaticIp: false,
      ignoreStaticMac: false,
    };
    refused(() => v.validateRestoreRequest(restore), "target_file");
    refused(() => v.validateRestoreRequest({ ...restore, id: "x", name: "new" }), "name");
    refused(() => v.validateRestoreRequest({ ...restore, id: "x", targetFile: "/tmp/a.tar" }), "id");
    refused(() => v.validateRestoreRequest({ ...restore, targetFile: "/tmp/a.tar", name: "bad name!" }), "name");
    const logs = { id: "x", follow: false, timestamps: false, stdout: false, stderr: false, raw: false };
    refused(() => v.validateLogsRequest({ ...logs, tail: 5_000_000 }), "tail");
    refused(() => v.validateLogsRequest({ ...logs, since: new Date(Number.NaN) }), "since");
    refused(() => v.validateLogsRequest({ ...logs, raw: true, timestamps: true }), "raw");
    accepted(() => v.validateLogsRequest({ ...logs, raw: true, tail: 3 }));
    const exec = { id: "x", command: ["sh"], env: [], workingDir: "", user: "", tty: true, stdin: true, detachKeys: "" };
    refused(() => v.validateExecOpen({ ...exec, size: { height: 0, width: 80 } }), "open.size.height");
    accepted(() => v.validateExecOpen({ ...exec, size: { height: 0, width: 0 } }));
    refused(() => v.validateExecOpen({ ...exec, detachKeys: "ctrl-" }), "open.detach_keys");
    refused(() => v.validateExecOpen({ ...exec, env: ["NOEQ"] }), "open.env[0]");
    refused(() => v.validateExecSyncRequest({ id: "x", command: ["true"], timeoutSeconds: 2 ** 31, env: [], workingDir: "", user: "" }), "timeout_seconds");
    refused(() => v.validateEventsRequest({ containers: ["ok", ""], types: [], images: [] }), "containers[1]");
    refused(() => v.validateEventsRequest({ containers: [], types: ["a\0"], images: [] }), "types[0]");
  });

  it("ImageService requests", () => {
    const src = { path: "", reference: "", format: "", sizeBytes: 0 };
    accepted(() => img.validateImportSource(src));
    refused(() => img.validateImportSource({ ...src, path: "rel/dir" }), "source.path");
    refused(() => img.validateImportSource({ ...src, reference: "Bad Ref" }), "source.reference");
    refused(() => img.validateImportSource({ ...src, format: "docker" }), "source.format");
    refused(() => img.validateImportSource({ ...src, sizeBytes: 2 ** 40 }), "source.size_bytes");
    refused(() => img.validatePullRequest({ reference: "", username: "", password: "", insecure: false }), "reference");
    refused(() => img.validatePullRequest({ reference: "localhost:5000/a", username: "a\0", password: "", insecure: false }), "username");
    refused(() => img.validateInspectImageRequest({ reference: "x".repeat(300) }), "reference");
    refused(() => img.validateRemoveImageRequest({ reference: "", force: false }), "reference");
    accepted(() => img.validateListImagesRequest({ reference: "" }));
  });
});

describe("requests that do not decode (wire.ts)", () => {
  it("a tolerant definition turns a decode failure into a marker every validator refuses", () => {
    const def = tolerantDefinition(ContainerServiceService);
    // CreateContainerRequest{config{resources{memory_limit_bytes: 2^62}}}: ts-proto cannot hold it in a number.
    const resources = new BinaryWriter()
      .uint32(8)
      .int64(2n ** 62n)
      .finish();
    const cfg = new BinaryWriter()
      .uint32((18 << 3) | 2)
      .bytes(resources)
      .finish();
    const bytes = Buffer.from(
      new BinaryWriter()
        .uint32((1 << 3) | 2)
        .bytes(cfg)
        .finish(),
    );
    assert.throws(() => ContainerServiceService.createContainer.requestDeserialize(bytes), /MAX_SAFE_INTEGER/);
    const marker = def.createContainer.requestDeserialize(bytes);
    refused(() => v.validateCreateRequest(marker), "request");
    refused(() => rejectUndecodable(def.inspectContainer.requestDeserialize(Buffer.from([0xff, 0xff, 0xff]))), "request");
    // What decodes still decodes; bidirectional streams are left as they are.
    const ok = def.inspectContainer.requestDeserialize(Buffer.from(new BinaryWriter().uint32(10).string("abc").finish()));
    assert.equal(ok.id, "abc");
    accepted(() => v.validateInspectRequest(ok));
    assert.equal(def.execContainer.requestDeserialize, ContainerServiceService.execContainer.requestDeserialize);
  });
});
