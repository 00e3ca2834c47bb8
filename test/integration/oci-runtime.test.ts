// Real runc + conmon, as root. Paths stay short: conmon's attach socket path
// (<socketDir>/<id>/attach) must fit the 108-byte sun_path.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, rmdir, writeFile, rename, readdir } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Resources, type ContainerConfig } from "../../src/gen/hull/v1/container.js";
import { containerConfig } from "../helpers/container-config.js";
import { HullError } from "../../src/errors.js";
import { removeBundle } from "../../src/oci/bundle.js";
import { RuntimeCli } from "../../src/oci/runtime-cli.js";
import { startConmon, attachSocketPath, MAX_SOCKET_PATH } from "../../src/oci/conmon.js";
import { ExitWatcher, readExitFile, removeExitFile, wasOomKilled } from "../../src/oci/exits.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { writeTestBundle } from "../helpers/bundle.js";

const CGROUP_PARENT = "hull-test";

function config(command: string[], over: Partial<ContainerConfig> = {}): ContainerConfig {
  return containerConfig({ command, ...over });
}

describe("runc + conmon", () => {
  let base = "";
  let rootfs = "";
  let runtime: RuntimeCli;
  let watcher: ExitWatcher;
  const ids: string[] = [];
  const dirs = { exit: "", persist: "", sockets: "", bundles: "", logs: "" };

  before(async () => {
    base = await mkdtemp("/tmp/ho-");
    rootfs = await buildBusyboxRootfs(join(base, "rootfs"));
    Object.assign(dirs, { exit: join(base, "x"), persist: join(base, "p"), sockets: join(base, "s"), bundles: join(base, "b"), logs: join(base, "l") });
    runtime = new RuntimeCli({ binary: "runc", root: join(base, "runc") });
    watcher = new ExitWatcher(dirs.exit);
    await watcher.start();
  });

  after(async () => {
    for (const id of ids) await runtime.delete(id, true).catch(() => undefined);
    watcher?.stop();
    if (base) await rm(base, { recursive: true, force: true });
    const controllers = await readdir("/sys/fs/cgroup").catch(() => [] as string[]);
    for (const c of controllers) await rmdir(join("/sys/fs/cgroup", c, CGROUP_PARENT)).catch(() => undefined);
  });

  function waitExit(id: string, ms = 20_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watcher.off("exit", onExit);
        reject(new Error(`no exit event for ${id} within ${ms} ms`));
      }, ms);
      const onExit = (got: string, code: number): void => {
        if (got !== id) return;
        clearTimeout(timer);
        watcher.off("exit", onExit);
        resolve(code);
      };
      watcher.on("exit", onExit);
    });
  }

  async function create(
    command: string[],
    over: Partial<ContainerConfig> = {},
  ): Promise<{ id: string; pid: number; conmonPid: number; logPath: string; bundle: string }> {
    const id = `t${randomBytes(6).toString("hex")}`;
    ids.push(id);
    const cfg = config(command, over);
    const bundle = join(dirs.bundles, id);
    await writeTestBundle(bundle, { id, config: cfg, rootfs, cgroupsPath: `/${CGROUP_PARENT}/${id}` });
    const logPath = join(dirs.logs, `${id}.log`);
    const r = await startConmon({
      id,
      name: id,
      bundlePath: bundle,
      runtime,
      exitDir: dirs.exit,
      persistDir: join(dirs.persist, id),
      logPath,
      tty: false,
      stdin: false,
      socketDir: dirs.sockets,
    });
    return { id, ...r, logPath, bundle };
  }

  test("the attach socket path of a 64-char id fits sun_path under this socket dir", () => {
    assert.ok(attachSocketPath(dirs.sockets, "f".repeat(64)).length <= MAX_SOCKET_PATH);
  });

  test("exit code, k8s-file log with both streams, delete", async () => {
    const c = await create(["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert.ok(c.pid > 0 && c.conmonPid > 0);
    const st = await runtime.state(c.id);
    assert.equal(st?.status, "created");
    assert.equal(st?.pid, c.pid);
    assert.equal(st?.bundle, c.bundle);
    const exited = waitExit(c.id);
    await runtime.start(c.id);
    assert.equal(await exited, 7);
    assert.equal(await readExitFile(dirs.exit, c.id), 7);
    assert.equal(await wasOomKilled(dirs.persist, c.id), false);
    const log = await readFile(c.logPath, "utf8");
    assert.match(log, /^\S+ stdout F out$/m);
    assert.match(log, /^\S+ stderr F err$/m);
    assert.equal((await runtime.state(c.id))?.status, "stopped");
    assert.ok((await runtime.list()).some((s) => s.id === c.id));
    await runtime.delete(c.id);
    assert.equal(await runtime.state(c.id), undefined);
    await removeExitFile(dirs.exit, c.id);
    assert.equal(await readExitFile(dirs.exit, c.id), undefined);
    await removeBundle(c.bundle);
  });

  test("SIGKILL gives 137", async () => {
    const c = await create(["sleep", "100"]);
    const exited = waitExit(c.id);
    await runtime.start(c.id);
    assert.equal((await runtime.state(c.id))?.status, "running");
    await runtime.kill(c.id, 9);
    assert.equal(await exited, 137);
    await runtime.delete(c.id);
  });

  test("pause and resume", async () => {
    const c = await create(["sleep", "100"]);
    const exited = waitExit(c.id);
    await runtime.start(c.id);
    await runtime.pause(c.id);
    assert.equal((await runtime.state(c.id))?.status, "paused");
    await runtime.resume(c.id);
    assert.equal((await runtime.state(c.id))?.status, "running");
    // SIGKILL: a pid-namespace init without handlers ignores SIGTERM from outside.
    await runtime.kill(c.id, 9, true);
    assert.equal(await exited, 137);
    await runtime.delete(c.id, true);
  });

  test("an OOM kill leaves the oom marker", async () => {
    const resources = Resources.fromPartial({ memoryLimitBytes: 8 << 20 });
    const c = await create(["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"], { resources });
    const exited = waitExit(c.id);
    await runtime.start(c.id);
    assert.equal(await exited, 137);
    assert.equal(await wasOomKilled(dirs.persist, c.id), true);
    await runtime.delete(c.id);
  });

  test("a create failure is RUNTIME_ERROR with the runtime's words", async () => {
    await assert.rejects(create(["/no/such/program"]), (err: unknown) => {
      assert.ok(err instanceof HullError, String(err));
      assert.equal(err.reason, "RUNTIME_ERROR");
      assert.match(err.message, /^runc create t[0-9a-f]+: .*\/no\/such\/program/);
      return true;
    });
  });

  test("a conmon that dies or says nothing is RUNTIME_ERROR, not a hang", async () => {
    const bundle = join(dirs.bundles, "fake");
    const base = {
      id: "fake",
      name: "fake",
      bundlePath: bundle,
      runtime,
      exitDir: dirs.exit,
      persistDir: join(dirs.persist, "fake"),
      logPath: join(dirs.logs, "fake.log"),
      tty: false,
      stdin: false,
      socketDir: dirs.sockets,
    };
    await writeTestBundle(bundle, { id: "fake", config: config(["true"]), rootfs, cgroupsPath: "/fake" });
    const runtimeError =
      (pattern: RegExp) =>
      (err: unknown): boolean =>
        err instanceof HullError && err.reason === "RUNTIME_ERROR" && pattern.test(err.message);
    await assert.rejects(startConmon({ ...base, conmonBinary: "/bin/false" }), runtimeError(/^runc create fake: conmon exited with 1/));
    await assert.rejects(
      startConmon({ ...base, conmonBinary: "/bin/true" }),
      runtimeError(/^runc create fake: conmon exited before the container was created/),
    );
  });

  test("missing containers: state undefined, delete quiet, kill fails clearly", async () => {
    assert.equal(await runtime.state("nope"), undefined);
    await runtime.delete("nope");
    await runtime.delete("nope", true);
    await assert.rejects(
      runtime.kill("nope", 9),
      (err: unknown) => err instanceof HullError && err.reason === "RUNTIME_ERROR" && err.message === "runc kill nope: container does not exist",
    );
  });

  test("probe: runc works; crun is reported, not thrown", async () => {
    assert.deepEqual(await runtime.probe(), { ok: true, reason: "" });
    let crun: RuntimeCli | undefined;
    try {
      crun = new RuntimeCli({ binary: "crun", root: join(base, "crun") });
    } catch (err) {
      assert.ok(err instanceof HullError && err.reason === "RUNTIME_ERROR" && /crun.*not found/.test(err.message), String(err));
      return;
    }
    const p = await crun.probe();
    if (!p.ok) assert.match(p.reason, /^crun run: ./);
  });

  test("an unknown runtime binary is a clear error", () => {
    assert.throws(() => new RuntimeCli({ binary: "/nonexistent/runc", root: base }), /does not exist/);
    assert.throws(() => new RuntimeCli({ binary: "no-such-runtime", root: base }), /not found on PATH/);
  });
});

describe("ExitWatcher", () => {
  let dir = "";
  let w: ExitWatcher | undefined;
  before(async () => {
    dir = await mkdtemp("/tmp/hx-");
  });
  after(async () => {
    w?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("reports final names once, ignores temp names, emitExisting on request", async () => {
    await writeFile(join(dir, "old"), "3");
    w = new ExitWatcher(dir);
    const seen: Array<[string, number]> = [];
    w.on("exit", (id, code) => seen.push([id, code]));
    await w.start({ emitExisting: true });
    assert.deepEqual(seen, [["old", 3]]);
    const got = new Promise<void>((resolve) => w?.on("exit", (id) => id === "new" && resolve()));
    // What glib's g_file_set_contents does: write "<name>.XXXXXX", rename.
    await writeFile(join(dir, "new.Ab12Cd"), "1");
    await rename(join(dir, "new.Ab12Cd"), join(dir, "new"));
    await got;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, [
      ["old", 3],
      ["new", 1],
    ]);
    w.stop();

    const quiet = new ExitWatcher(dir);
    const none: string[] = [];
    quiet.on("exit", (id) => none.push(id));
    await quiet.start();
    await new Promise((r) => setTimeout(r, 100));
    quiet.stop();
    assert.deepEqual(none, []);
  });
});
