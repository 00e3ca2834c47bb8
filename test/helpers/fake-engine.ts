// An Engine wired as src/daemon.ts wires it (real store, exit watcher and
// exit handler, image store) over the in-memory FakeRuntime, in temp dirs:
// the operations in src/ops/ run for real, without root, runc or conmon.
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { ContainerConfig, type DeepPartial, type Event } from "../../src/gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord } from "../../src/store/record.js";
import { StateStore } from "../../src/store/store.js";
import { ExitWatcher } from "../../src/oci/exits.js";
import { readHostLimits } from "../../src/oci/hostinfo.js";
import { NO_REGISTRIES } from "../../src/images/registries-conf.js";
import { noPodEnvironment } from "./fake-pods.js";
import { ImageStore } from "../../src/images/image-store.js";
import { Engine, enginePaths } from "../../src/engine/engine.js";
import { handleExit } from "../../src/ops/exit.js";
import { createContainer } from "../../src/ops/create.js";
import { FakeRuntime } from "./fake-runtime.js";

export interface FakeEnv {
  engine: Engine;
  fake: FakeRuntime;
  rootfs: string;
  /** A CONFIGURED container over the temp rootfs (command `sleep 1000` unless given). */
  create(extra?: DeepPartial<ContainerConfig>): Promise<ContainerRecord>;
  /** The container's record as stored now. */
  get(id: string): Promise<ContainerRecord>;
  /** The container's event types, oldest first. */
  events(id: string): Promise<string[]>;
  /** The container's stored events, oldest first. */
  eventRecords(id: string): Promise<Event[]>;
  /** Resolves with the record once pred holds for it (checked at each save); rejects after ms. */
  waitFor(id: string, pred: (rec: ContainerRecord) => boolean, ms?: number): Promise<ContainerRecord>;
  /** Exit handlers still running. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

let counter = 0;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** A root filesystem with what init reads from one: /etc/passwd and /etc/group (the spec only names the rest). */
async function makeRootfs(dir: string): Promise<void> {
  for (const sub of ["bin", "etc", "proc", "dev", "sys", "tmp"]) await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  await writeFile(join(dir, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
}

/** Opens an engine over an existing state root (a second open sees what the first left: a hulld restart). */
export async function openFakeEngine(opts: { base?: string; fake?: FakeRuntime } = {}): Promise<FakeEnv> {
  const base = opts.base ?? (await mkdtemp(join(tmpdir(), "hull-fake-")));
  const ownsBase = opts.base === undefined;
  const rootfs = join(base, "rootfs");
  await makeRootfs(rootfs);
  const paths = enginePaths(join(base, "root"), join(base, "run"));
  for (const dir of [paths.root, paths.runRoot, paths.exitDir, paths.persistDir, paths.bundlesDir, paths.socketDir, paths.containersDir, paths.runtimeRoot]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  const log = pino({ level: process.env.HULL_TEST_LOG_LEVEL ?? "silent" });
  const store = await StateStore.open(paths.root);
  const fake = opts.fake ?? new FakeRuntime();
  const exits = new ExitWatcher(paths.exitDir);
  const images = await ImageStore.open(paths.root, store, log);
  const engine = new Engine({
    store,
    runtime: fake,
    exits,
    images,
    registries: NO_REGISTRIES,
    pods: noPodEnvironment(),
    paths,
    hostLimits: await readHostLimits(),
    log,
  });
  const pendingExits = new Set<Promise<void>>();
  // Exit files the fake wrote that the watcher has not reported yet (settle waits for them).
  const unreported = new Map<string, string>();
  fake.onExitFile = (id, path) => unreported.set(id, path);
  exits.on("exit", (id: string) => {
    unreported.delete(id);
    const handling = handleExit(engine, id).finally(() => pendingExits.delete(handling));
    pendingExits.add(handling);
  });
  await exits.start({ emitExisting: false });

  /** Until every exit file is written and reported (or removed unreported) and every exit handler is done. */
  const settle = async (): Promise<void> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      await fake.settled();
      for (const [id, path] of unreported) if (!(await exists(path))) unreported.delete(id);
      if (unreported.size > 0 && Date.now() < deadline) {
        await delay(5);
      } else if (pendingExits.size > 0) {
        await Promise.allSettled([...pendingExits]);
      } else {
        return;
      }
    }
  };
  const get = async (id: string): Promise<ContainerRecord> => {
    const rec = await store.getContainer(id);
    if (!rec) throw new Error(`no record for ${id}`);
    return rec;
  };
  return {
    engine,
    fake,
    rootfs,
    get,
    settle,
    create: (extra = {}) =>
      createContainer(engine, ContainerConfig.fromPartial({ name: `c${process.pid}-${++counter}`, rootfsPath: rootfs, command: ["sleep", "1000"], ...extra })),
    async events(id) {
      return (await store.readEvents()).filter((e) => e.containerId === id).map((e) => e.type);
    },
    async eventRecords(id) {
      return (await store.readEvents()).filter((e) => e.containerId === id);
    },
    waitFor(id, pred, ms = 5000) {
      return new Promise<ContainerRecord>((resolve, reject) => {
        let done = false;
        const finish = (rec: ContainerRecord | Error): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          unsubscribe();
          if (rec instanceof Error) reject(rec);
          else resolve(rec);
        };
        const timer = setTimeout(() => {
          void store
            .getContainer(id)
            .then((rec) =>
              finish(new Error(`container ${id.slice(0, 12)}: condition not met within ${ms} ms (state ${rec ? ContainerState[rec.state] : "removed"})`)),
            );
        }, ms);
        const unsubscribe = engine.bus.subscribe(
          id,
          (rec) => {
            if (pred(rec)) finish(rec);
          },
          () => finish(new Error(`container ${id.slice(0, 12)} was removed`)),
        );
        void get(id).then((rec) => {
          if (pred(rec)) finish(rec);
        }, finish);
      });
    },
    async close() {
      await fake.close();
      // Settled while the watcher still reports, as hulld's close waits for its exit handlers.
      await settle();
      exits.stop();
      unreported.clear();
      await settle();
      await store.close();
      if (ownsBase) await rm(base, { recursive: true, force: true });
      if (fake.writeErrors.length > 0) throw new Error(`the fake runtime could not write exit files: ${String(fake.writeErrors[0])}`);
    },
  };
}

/** Runs fn with a fresh engine, closed afterwards whatever happens. */
export async function withFakeEngine<T>(fn: (env: FakeEnv) => Promise<T>): Promise<T> {
  const env = await openFakeEngine();
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}

/** Whether `expected` appears in `actual` in order (other items may come between). */
export function isSubsequence(actual: readonly string[], expected: readonly string[]): boolean {
  let i = 0;
  for (const a of actual) if (a === expected[i]) i++;
  return i === expected.length;
}
