// RemoveContainer against an export of an image container's rootfs in
// flight: refused (FAILED_PRECONDITION CONTAINER_STATE_INVALID), the export
// finishes whole, and the removal succeeds once it has.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ExportContainerResponse } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError } from "../helpers/api.js";
import { importRootfsImage } from "../helpers/images.js";
import { must, uniqueName, until, SLEEP } from "../helpers/fixtures.js";

const BIG = 24 * 1024 * 1024;

describe("RemoveContainer while an export streams", () => {
  let work: string | undefined;
  const s = daemonSuite({ extraDirs: () => (work ? [work] : []) });

  it("refuses to remove an image container whose rootfs is being exported, then removes it once the export is done", async () => {
    work = await mkdtemp(join(tmpdir(), "hull-rmexp-"));
    // A file far bigger than the HTTP/2 windows: the export stays in flight while the test does not read.
    await mkdir(join(s.rootfs, "data"), { recursive: true });
    await writeFile(join(s.rootfs, "data/huge.bin"), Buffer.alloc(BIG, 7));
    await importRootfsImage(s.d.socket, s.rootfs, work, "rmexp");
    const c = must((await s.api.createContainer({ config: { name: uniqueName("rmexp"), image: "rmexp", command: [...SLEEP] } })).container, "container");
    s.made.push(c.id);
    const dir = join(s.d.root, "containers", c.id);

    const call = s.d.client.exportContainer({ id: c.id }, { deadline: Date.now() + 60_000 });
    let received = 0;
    let paused = false;
    const ended = new Promise<grpc.StatusObject | Error>((resolve) => {
      call.on("error", resolve);
      call.on("status", resolve);
    });
    call.on("data", (res: ExportContainerResponse) => {
      received += res.chunk.length;
      if (received > 4 * 1024 * 1024 && !paused) {
        paused = true;
        call.pause();
      }
    });
    await until("the export to be inside the big file", async () => (paused ? true : undefined));

    for (const force of [false, true]) {
      await assertGrpcError(s.api.removeContainer({ id: c.id, force }), grpc.status.FAILED_PRECONDITION, "CONTAINER_STATE_INVALID", "export");
    }
    assert.ok((await stat(dir)).isDirectory(), "the container's directory is still there");

    call.resume();
    const end = await ended;
    assert.ok(!(end instanceof Error), `export failed: ${end instanceof Error ? end.message : ""}`);
    assert.equal(end.code, grpc.status.OK, end.details);
    assert.ok(received > BIG, `the whole archive arrived (${received} bytes)`);

    await s.api.removeContainer({ id: c.id, force: true });
    // The files go right after the answer (engine/teardowns.ts): wait for them.
    await until("the directory is gone after the export", () =>
      stat(dir).then(
        () => undefined,
        () => true,
      ),
    );
  });
});
