// The shared setup of an integration test file: a busybox rootfs and a hulld
// started before the suite's tests, and everything torn down after them.
import { before, after } from "node:test";
import { rm } from "node:fs/promises";
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from "./daemon.js";
import { buildBusyboxRootfs } from "./rootfs.js";
import { removeAll } from "./fixtures.js";
import type { Api } from "./api.js";

export interface DaemonSuiteOptions {
  /** Passed to startTestDaemon. */
  daemon?: TestDaemonOptions;
  /** More directories to delete after the suite; read then, so it may name dirs made later (missing ones are skipped). */
  extraDirs?: () => string[];
  /** Runs after the tests, with the daemon running, before the `made` containers are removed. */
  beforeCleanup?: (d: TestDaemon) => Promise<void>;
}

export interface DaemonSuite {
  /** The daemon; always read it from here: restart() replaces its client. */
  readonly d: TestDaemon;
  readonly rootfs: string;
  /** Shorthand for `d.api`. */
  readonly api: Api;
  /** Ids of containers to force-remove after the suite. */
  readonly made: string[];
}

/**
 * Registers the before/after hooks of a suite that needs a hulld and a rootfs;
 * call it inside a describe() callback.
 */
export function daemonSuite(opts: DaemonSuiteOptions = {}): DaemonSuite {
  let d: TestDaemon | undefined;
  let rootfs: string | undefined;
  const made: string[] = [];

  before(async () => {
    rootfs = await buildBusyboxRootfs();
    d = await startTestDaemon(opts.daemon);
  });

  after(async () => {
    if (d) {
      // A test may have left the daemon stopped (a failure mid-restart);
      // removing the containers needs it up again.
      if (!d.running()) await d.restart().catch(() => undefined);
      await opts.beforeCleanup?.(d);
      // Best effort: after a failed test this must not keep d.cleanup() (which
      // also removes leftover runtime containers) from running.
      await removeAll(d.api, made).catch(() => undefined);
      await d.cleanup();
    }
    for (const dir of [rootfs, ...(opts.extraDirs?.() ?? [])]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const daemon = (): TestDaemon => {
    if (!d) throw new Error("daemonSuite: the daemon is not started (its before hook has not run or failed)");
    return d;
  };

  return {
    get d(): TestDaemon {
      return daemon();
    },
    get rootfs(): string {
      if (rootfs === undefined) throw new Error("daemonSuite: the rootfs is not built (its before hook has not run or failed)");
      return rootfs;
    },
    get api(): Api {
      return daemon().api;
    },
    made,
  };
}
