// The runtime delete of an exited container and a removed container's files
// run after the client is answered (engine/teardowns.ts). What must hold:
// a container started again right behind its exit gets a fresh runtime
// container (init waits for the deferred delete of the last run), every run
// is recorded, and a removal leaves no runtime container, bundle, container
// dir or exit file behind once its background work is done, including when
// hulld is stopped right behind the removal. An image container's overlay
// is released after its exit's lock is let go too: a removal right behind
// it still leaves nothing mounted, and a mount right behind it keeps the
// overlay up.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { daemonSuite } from "../helpers/suite.js";
import { RUNTIME_ROOT_SUBDIR } from "../helpers/daemon.js";
import { imageApi } from "../helpers/images.js";
import { S, create, inspect, must, uniqueName, until, waitExited } from "../helpers/fixtures.js";

const run = promisify(execFile);
const RUNS = 5;

describe("deferred teardown", () => {
  let work = "";
  const s = daemonSuite({ extraDirs: () => [work] });
  const runtimeIds = async (): Promise<string[]> => {
    const { stdout } = await run("runc", ["--root", join(s.d.runRoot, RUNTIME_ROOT_SUBDIR), "list", "-q"]);
    return stdout.split("\n").filter((l) => l !== "");
  };
  const leftovers = (id: string): string[] =>
    [join(s.d.runRoot, "bundles", id), join(s.d.root, "containers", id), join(s.d.runRoot, "exits", id), join(s.d.runRoot, "persist", id)].filter((p) =>
      existsSync(p),
    );

  it("starts a container again right behind each exit, then removes it without a trace", async () => {
    const c = await create(s.api, s.rootfs, ["sh", "-c", "exit 3"]);
    for (let i = 0; i < RUNS; i++) {
      await s.api.startContainer({ id: c.id });
      // EXITED: the exit's cleanup ran; its runtime delete may still be in flight when the next start comes.
      const waited = await waitExited(s.api, c.id);
      assert.equal(waited.exitCode, 3, `run ${i + 1} exit code`);
    }
    const after = await inspect(s.api, c.id);
    assert.equal(after.state, S.CONTAINER_STATE_EXITED);
    assert.equal(after.exitCode, 3);
    await s.api.removeContainer({ id: c.id });
    await assert.rejects(inspect(s.api, c.id), /not found|NOT_FOUND|no such/i, "the record is gone when RemoveContainer answers");
    await until(
      "the removal's background work",
      async () => ((await runtimeIds()).includes(c.id) || leftovers(c.id).length > 0 ? undefined : true),
      10_000,
      20,
    );
  });

  it("leaves nothing when hulld stops right behind a removal", async () => {
    const c = await create(s.api, s.rootfs, ["true"]);
    await s.api.startContainer({ id: c.id });
    await waitExited(s.api, c.id);
    await s.api.removeContainer({ id: c.id });
    // A graceful stop settles the pending teardown (or the next start sweeps it as an orphan).
    await s.d.restart();
    assert.deepEqual(leftovers(c.id), [], "no files of the removed container");
    assert.equal((await runtimeIds()).includes(c.id), false, "no runtime container of the removed container");
  });

  describe("of an image container's overlay", () => {
    const merged = (id: string): string => join(s.d.root, "containers", id, "overlay", "merged");
    const mounted = async (id: string): Promise<boolean> =>
      (await readFile("/proc/self/mountinfo", "utf8")).split("\n").some((l) => l.split(" ")[4] === merged(id));
    const ranToExit = async (): Promise<string> => {
      const c = must((await s.api.createContainer({ config: { name: uniqueName("ovl"), image: "busybox", command: ["true"] } })).container, "container");
      s.made.push(c.id);
      await s.api.startContainer({ id: c.id });
      await waitExited(s.api, c.id);
      return c.id;
    };

    it("is released after the exit, and a removal right behind the exit leaves nothing mounted", async () => {
      work = await mkdtemp(join(tmpdir(), "hull-teardown-"));
      const tarball = join(work, "busybox.tar");
      await run("tar", ["-C", s.rootfs, "-cf", tarball, "."]);
      const images = imageApi(s.d.socket);
      await images.importStream(await readFile(tarball), "busybox");

      const released = await ranToExit();
      await until("the exit's release of the overlay", async () => ((await mounted(released)) ? undefined : true), 10_000, 20);
      for (let i = 0; i < RUNS; i++) {
        const id = await ranToExit();
        // The exit's unmount may be in flight: the removal waits for it rather than racing it.
        await s.api.removeContainer({ id });
        assert.equal(await mounted(id), false, `run ${i + 1}: the overlay is gone when RemoveContainer answers`);
      }
    });

    it("stays mounted for a MountContainer right behind the exit", async () => {
      const id = await ranToExit();
      const m = await s.api.mountContainer({ id });
      assert.equal(m.path, merged(id));
      await until("the exit's runtime delete", async () => ((await runtimeIds()).includes(id) ? undefined : true), 10_000, 20);
      assert.equal(await mounted(id), true, "the exit's deferred release left the mounted rootfs up");
      assert.ok(existsSync(join(m.path, "bin", "sh")), "the image's files are seen through the mount");
      assert.equal((await s.api.unmountContainer({ id })).container?.mountCount, 0);
      assert.equal(await mounted(id), false, "the last unmount releases it");
      await s.api.removeContainer({ id });
    });
  });
});
