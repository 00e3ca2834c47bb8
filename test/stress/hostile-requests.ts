// fast-check arbitraries for every request of hull.v1.ContainerService and
// hull.v1.ImageService: random strings, and strings built to hurt (NUL bytes,
// 1 MiB values, "../../", absolute host paths, paths into a canary dir,
// unicode, empty), boundary and random numbers, unknown enum values, and
// container references that sometimes name a real container, so the calls
// reach past validation too.
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import {
  type BatchOperationKind,
  ContainerState,
  type AttachContainerRequest,
  type ContainerConfig,
  type DeepPartial,
  type ExecContainerRequest,
  type Mount,
} from "../../src/gen/hull/v1/container.js";
import type { ImportImageRequest } from "../../src/gen/hull/v1/image.js";

export const ONE_MIB = "x".repeat(1024 * 1024);

export interface HostileContext {
  /** An empty directory that nothing may ever write into. */
  canary: string;
  /** A real busybox root filesystem. */
  rootfs: string;
  /** References to a running tty container: full id, name, short id. */
  targetRefs: string[];
}

/** Paths that point at the canary in every way a path can: absolute, climbing, doubled slashes. */
function canaryPaths(canary: string): string[] {
  const climb = `${"../".repeat(16)}${canary.slice(1)}`;
  return [canary, `${canary}/x`, `${canary}/../${canary.split("/").pop() ?? ""}/y`, climb, `${climb}/x`, `/${climb}/x`, `${canary}//z/`, `file://${canary}/x`];
}

export function hostileStrings(ctx: HostileContext): fc.Arbitrary<string> {
  const fixed = [
    "",
    ".",
    "..",
    "/",
    "../../../../etc/passwd",
    "/etc/passwd",
    "/etc",
    "/proc/self/mem",
    "/dev/null",
    "a\0b",
    "\0",
    "é",
    "日本語",
    "\u202e\u0000x",
    "\ud800",
    "-rf",
    "--help",
    " ",
    "\n",
    "\t;id",
    "$(id)",
    "`id`",
    "x".repeat(300),
    "SIGKILL",
    "9",
    "0",
    "-1",
    "65",
    "4294967296",
    "ctrl-p,ctrl-q",
    "ctrl-",
    "none",
    `sha256:${"0".repeat(64)}`,
    "busybox",
    "busybox:latest",
    "localhost:1/x:y",
    "on-failure",
    "host",
    "bind",
    "tmpfs",
    "proc",
    "ro",
    "size=1m",
    "root",
    "0:0",
    "nobody",
    "KEY=VALUE",
    "=x",
    "%s%n",
    "{{.}}",
    "a/b",
    "A".repeat(254),
    ...canaryPaths(ctx.canary),
    ...ctx.targetRefs,
  ];
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
    { weight: 6, arbitrary: fc.constantFrom(...fixed) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([a, b]) => `${a}\0${b}`) },
    { weight: 1, arbitrary: fc.constant(ONE_MIB) },
  );
}

/** A container reference: mostly the real target, else hostile. */
function containerRef(ctx: HostileContext, s: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...ctx.targetRefs) }, { weight: 3, arbitrary: s });
}

const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
/** int64 within what the generated code can carry (2^53; beyond is the "undecodable" test's). */
const i64 = fc.oneof(fc.constantFrom(0, -1, 1, 6 * 1024 * 1024, 2 ** 31, -(2 ** 31), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER), fc.maxSafeInteger());
const u64 = fc.oneof(fc.constantFrom(0, 1, 2, 1000, 262_144, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const enumValue = fc.oneof(fc.integer({ min: -2, max: 12 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31)));
const stateValue = fc.oneof(fc.constantFrom(...Object.values(ContainerState).filter((x): x is number => typeof x === "number")), enumValue);
const date = fc.oneof(fc.date({ noInvalidDate: true }), fc.constantFrom(new Date(0), new Date(8.64e15), new Date(-8.64e15), new Date(Date.now() + 1000)));
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
/**
 * A stop timeout. Valid timeouts above a few seconds are left out on
 * purpose: stopping the target (whose sleep ignores SIGTERM) then waits that
 * long, as the contract says, which would only measure the clock.
 */
const stopTimeout = maybe(fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 86_401, max: 2 ** 32 - 1 })));
/** Short (a random command that hangs is killed soon), or past the one-year bound (refused). */
const execTimeout = fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 365 * 24 * 3600 + 1, max: 2 ** 32 - 1 }));
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.alloc(1024 * 1024 + 1, 0x41)),
);
/** Streams that look like archives: gzip magic over garbage, gzipped garbage, an empty tar (a valid, empty rootfs) and it gzipped. */
const archiveBytes = fc.constantFrom(
  Buffer.from([0x1f, 0x8b, 1, 2, 3]),
  gzipSync(Buffer.from("not a tar at all")),
  Buffer.alloc(1024),
  gzipSync(Buffer.alloc(1024)),
  Buffer.concat([Buffer.from("ustar"), Buffer.alloc(600, 0xff)]),
);
const size = fc.record({ height: u32, width: u32 });
const list = <T>(a: fc.Arbitrary<T>, maxLength = 4): fc.Arbitrary<T[]> => fc.array(a, { maxLength });
const map = (s: fc.Arbitrary<string>): fc.Arbitrary<Record<string, string>> => fc.dictionary(s, s, { maxKeys: 3 });

export function arbitraries(ctx: HostileContext) {
  const s = hostileStrings(ctx);
  const id = containerRef(ctx, s);
  const hostFiles = ["/etc/passwd", "/etc/hostname", "/bin/busybox", "/proc/self/mem", "/proc/self/status", "/dev/null", "/dev/zero", "/sys/kernel/notes"];
  const path = fc.oneof(s, fc.constantFrom(ctx.rootfs, ...hostFiles, ...canaryPaths(ctx.canary)));
  const mount: fc.Arbitrary<DeepPartial<Mount>> = fc.record({ type: s, source: path, destination: path, options: list(s) });
  const config: fc.Arbitrary<DeepPartial<ContainerConfig>> = fc.record(
    {
      name: s,
      image: fc.oneof(s, fc.constant("")),
      rootfsPath: fc.oneof(fc.constant(ctx.rootfs), fc.constant(""), path),
      command: fc.oneof(
        fc.constant(["true"]).map((c) => [...c]),
        list(s),
      ),
      env: list(s),
      workingDir: s,
      user: s,
      hostname: s,
      tty: fc.boolean(),
      stdin: fc.boolean(),
      stopSignal: s,
      stopTimeoutSeconds: maybe(u32),
      restartPolicy: fc.record({ name: s, maxRetries: u32 }),
      dependsOn: list(id),
      labels: map(s),
      annotations: map(s),
      mounts: list(mount, 2),
      resources: fc.record({ memoryLimitBytes: i64, cpuShares: u64, cpuQuotaUs: i64, cpuPeriodUs: u64, pidsLimit: i64 }),
      logMaxSizeBytes: i64,
      networkMode: s,
      readOnlyRootfs: fc.boolean(),
      security: fc.record({
        capAdd: list(s),
        capDrop: list(s),
        allowNewPrivileges: fc.boolean(),
        seccompProfile: path,
        userNamespace: fc.record({ mode: s, hostId: u32, size: u32 }),
      }),
    },
    { requiredKeys: [] },
  );
  const process = { command: list(s), env: list(s), workingDir: s, user: s };
  const batchOp = fc.record({ kind: enumValue.map((k) => k as BatchOperationKind), signal: s, timeoutSeconds: stopTimeout });
  const attachMessage: fc.Arbitrary<AttachContainerRequest> = fc.oneof(
    fc.record({
      message: fc.record({
        $case: fc.constant("open" as const),
        value: fc.record({
          id,
          stdin: fc.boolean(),
          stdout: fc.boolean(),
          stderr: fc.boolean(),
          detachKeys: s,
          logs: fc.boolean(),
          start: fc.boolean(),
          recursive: fc.boolean(),
          stream: maybe(fc.boolean()),
        }),
      }),
    }),
    fc.record({ message: fc.record({ $case: fc.constant("stdin" as const), value: bytes }) }),
    fc.record({ message: fc.record({ $case: fc.constant("resize" as const), value: size }) }),
    fc.record({ message: fc.record({ $case: fc.constant("closeStdin" as const), value: fc.boolean() }) }),
    fc.constant({ message: undefined }),
  );
  const execMessage: fc.Arbitrary<ExecContainerRequest> = fc.oneof(
    fc.record({
      message: fc.record({
        $case: fc.constant("open" as const),
        value: fc.record({ id, ...process, tty: fc.boolean(), stdin: fc.boolean(), size: maybe(size), detachKeys: s }),
      }),
    }),
    fc.record({ message: fc.record({ $case: fc.constant("stdin" as const), value: bytes }) }),
    fc.record({ message: fc.record({ $case: fc.constant("resize" as const), value: size }) }),
    fc.record({ message: fc.record({ $case: fc.constant("closeStdin" as const), value: fc.boolean() }) }),
    fc.constant({ message: undefined }),
  );
  const importMessage: fc.Arbitrary<ImportImageRequest> = fc.oneof(
    fc.record({
      message: fc.record({
        $case: fc.constant("source" as const),
        value: fc.record({
          path,
          reference: fc.oneof(fc.constantFrom("", "hostile:latest"), s),
          format: fc.oneof(s, fc.constantFrom("", "", "oci-layout", "rootfs-tar")),
          sizeBytes: fc.oneof(fc.constant(0), u64),
        }),
      }),
    }),
    fc.record({ message: fc.record({ $case: fc.constant("chunk" as const), value: fc.oneof(bytes, archiveBytes) }) }),
    fc.constant({ message: undefined }),
  );
  return {
    strings: s,
    idOnly: fc.record({ id }),
    create: fc.record({ config: maybe(config) }),
    init: fc.record({ id, recursive: fc.boolean() }),
    resize: fc.record({ id, size: maybe(size) }),
    stop: fc.record({ id, timeoutSeconds: stopTimeout }),
    kill: fc.record({ id, signal: s }),
    unmount: fc.record({ id, force: fc.boolean() }),
    artifact: fc.record({ id, name: path, data: bytes }),
    artifactName: fc.record({ id, name: path }),
    wait: fc.record({ id, condition: maybe(stateValue) }),
    cleanup: fc.record({ id, onlyStopped: fc.boolean() }),
    batch: fc.record({ id, operations: list(batchOp, 5) }),
    checkpoint: fc.record({ id, keep: fc.boolean(), keepRunning: fc.boolean(), tcpEstablished: fc.boolean(), targetFile: path, ignoreRootfs: fc.boolean() }),
    restore: fc.record({
      id: fc.oneof(id, fc.constant("")),
      keep: fc.boolean(),
      tcpEstablished: fc.boolean(),
      targetFile: fc.oneof(path, fc.constant("")),
      name: s,
      ignoreRootfs: fc.boolean(),
      ignoreStaticIp: fc.boolean(),
      ignoreStaticMac: fc.boolean(),
    }),
    remove: fc.record({ id, force: fc.boolean(), timeoutSeconds: stopTimeout }),
    list: fc.record({ states: list(stateValue), labels: map(s), name: s, idPrefix: s }),
    logs: fc.record({
      id,
      follow: fc.boolean(),
      tail: maybe(u32),
      since: maybe(date),
      until: maybe(date),
      timestamps: fc.boolean(),
      stdout: fc.boolean(),
      stderr: fc.boolean(),
    }),
    execSync: fc.record({ id, ...process, timeoutSeconds: execTimeout }),
    events: fc.record({ containers: list(id), types: list(s), since: maybe(date), until: maybe(date), images: list(s) }),
    attach: list(attachMessage, 5),
    exec: list(execMessage, 5),
    importImage: list(importMessage, 4),
    pull: fc.record({ reference: s, username: s, password: s, insecure: fc.boolean() }),
    imageRef: fc.record({ reference: s }),
    removeImage: fc.record({ reference: s, force: fc.boolean() }),
  };
}
