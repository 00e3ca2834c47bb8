// Image events against a real hulld: import, pull (from a docker-registry),
// tag moves and removal are stored and streamed beside container events,
// with sequences; the `images` filter (ids, prefixes, references, removed
// images' full ids), its combination with `containers` and `types`, `since`
// replay, and `hull events --filter image=`.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ImageServiceClient, type PullImageResponse } from "../../src/gen/hull/v1/image.js";
import type { DeepPartial, Event, EventsRequest } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import { assertGrpcError } from "../helpers/api.js";
import { create, must } from "../helpers/fixtures.js";
import { runHull } from "../helpers/cli.js";
import { collectEvents, type EventCollector } from "../helpers/event-stream.js";
import { imageApi, makeTar, writeLayout, type ImageApi, type Layout } from "../helpers/images.js";
import { startDockerRegistry, tagLayout } from "../helpers/docker-registry.js";

const IMAGE_TYPES = ["image_import", "image_pull", "image_tag", "image_remove"];

function describeImageEvents(events: Event[]): string {
  return events.map((e) => `${e.sequence}:${e.type}:${e.imageId.slice(7, 19) || e.containerId.slice(0, 12)}`).join(" ");
}

describe("image events", () => {
  let work = "";
  const streams: EventCollector[] = [];
  const s = daemonSuite({
    extraDirs: () => [work],
    beforeCleanup: async () => {
      for (const st of streams) if (!st.isEnded()) st.call.cancel();
    },
  });
  let imgs: ImageApi | undefined;
  const images = (): ImageApi => (imgs ??= imageApi(s.d.socket));
  let layoutA: Layout | undefined;
  let layoutB: Layout | undefined;

  const open = (req: DeepPartial<EventsRequest>): EventCollector => {
    const c = collectEvents(s.d.client, req);
    streams.push(c);
    return c;
  };
  /** Stored events in [since, now], through a replay-only call. */
  const replay = async (req: DeepPartial<EventsRequest>): Promise<Event[]> => {
    const c = open({ until: new Date(), ...req });
    const end = await c.ended;
    if (end.error) throw end.error;
    return c.events;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hull-image-events-"));
    const layer = (name: string): Promise<Buffer> => makeTar([{ name, content: `${name}\n` }]);
    layoutA = await writeLayout(join(work, "a"), [await layer("a")], { Cmd: ["sh"] });
    layoutB = await writeLayout(join(work, "b"), [await layer("b")], { Cmd: ["sh"] });
  });
  after(() => imgs?.close());

  it("import and remove are image_import and image_remove events with image_id, live and replayed with since", async () => {
    const since = new Date();
    const live = open({ since });
    const img = await images().importPath(must(layoutA, "layout").dir, "example.com/ev/a:v1");
    const imported = await live.waitFor("image_import", (e) => e.type === "image_import" && e.imageId === img.id);
    assert.equal(imported.containerId, "");
    assert.equal(imported.containerName, "");
    assert.equal(imported.attributes.reference, "example.com/ev/a:v1");
    assert.equal(imported.attributes.name, "example.com/ev/a:v1");
    assert.equal(imported.attributes.source, "path");
    assert.ok(imported.sequence > 0 && imported.time instanceof Date);

    await images().remove("example.com/ev/a:v1");
    const removed = await live.waitFor("image_remove", (e) => e.type === "image_remove" && e.imageId === img.id);
    assert.equal(removed.containerId, "");
    assert.equal(removed.attributes.reference, "example.com/ev/a:v1");
    assert.equal(removed.attributes.name, "example.com/ev/a:v1");
    assert.equal(removed.attributes.removedLayers, "1");
    assert.ok(removed.sequence > imported.sequence, "sequences increase");
    live.call.cancel();

    const stored = (await replay({ since })).filter((e) => e.imageId === img.id);
    assert.deepEqual(
      stored.map((e) => [e.type, e.sequence]),
      [
        ["image_import", imported.sequence],
        ["image_remove", removed.sequence],
      ],
      describeImageEvents(stored),
    );
    // A removed image's full id (with or without "sha256:") still selects its stored events.
    for (const ref of [img.id, img.id.slice(7)]) {
      assert.deepEqual(
        (await replay({ since, images: [ref] })).map((e) => e.type),
        ["image_import", "image_remove"],
        ref,
      );
    }
  });

  it("filters by image (id, prefix, reference), by type, and with containers (either matches)", async () => {
    const since = new Date();
    const a = await images().importPath(must(layoutA, "layout").dir, "example.com/ev/a:v2");
    const b = await images().importPath(must(layoutB, "layout").dir, "example.com/ev/b:v1");
    const c = await create(s.api, s.rootfs, ["true"]);
    s.made.push(c.id);

    const all = await replay({ since });
    assert.deepEqual(
      all.map((e) => e.type),
      ["image_import", "image_import", "create"],
      describeImageEvents(all),
    );
    for (const ref of ["example.com/ev/a:v2", a.id, a.id.slice(7, 19)]) {
      const got = await replay({ since, images: [ref] });
      assert.deepEqual(
        got.map((e) => [e.type, e.imageId]),
        [["image_import", a.id]],
        `images: [${ref}] → ${describeImageEvents(got)}`,
      );
    }
    const imports = await replay({ since, types: ["image_import"] });
    assert.deepEqual(
      imports.map((e) => e.imageId),
      [a.id, b.id],
    );
    const onlyContainer = await replay({ since, containers: [c.id] });
    assert.deepEqual(
      onlyContainer.map((e) => e.type),
      ["create"],
      "containers alone: no image events",
    );
    const either = await replay({ since, containers: [c.id], images: ["example.com/ev/b:v1"] });
    assert.deepEqual(
      either.map((e) => e.type + ":" + (e.imageId || e.containerId)),
      [`image_import:${b.id}`, `create:${c.id}`],
    );
    const typed = await replay({ since, images: [a.id, b.id], types: ["image_remove"] });
    assert.deepEqual(typed, [], "types and images both apply");

    await assertGrpcError(replay({ since, images: ["example.com/ev/nothing:v1"] }), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND", "nothing");
    await assertGrpcError(replay({ since, images: [""] }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "images[0]");
    await assertGrpcError(replay({ since, types: ["image_explode"] }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "image_remove");

    // Live, filtered by b: a's removal (which comes first) is not sent, b's is.
    const live = open({ since: new Date(), images: [b.id] });
    await images().remove(a.id);
    await images().remove(b.id);
    await live.waitFor("b's image_remove", (e) => e.type === "image_remove" && e.imageId === b.id);
    assert.deepEqual(
      live.events.map((e) => e.imageId),
      [b.id],
      describeImageEvents(live.events),
    );
    live.call.cancel();
    // A prefix of a removed image names nothing any more.
    await assertGrpcError(replay({ since, images: [b.id.slice(7, 19)] }), grpc.status.NOT_FOUND, "IMAGE_NOT_FOUND");
  });

  it("a tag moved to another image or untagged is an image_tag event for the image that lost it", async () => {
    const since = new Date();
    const a = await images().importPath(must(layoutA, "layout").dir, "example.com/ev/t:one");
    await images().importPath(must(layoutA, "layout").dir, "example.com/ev/t:two");
    const b = await images().importPath(must(layoutB, "layout").dir, "example.com/ev/t:two");
    assert.deepEqual((await images().inspect(a.id)).tags, ["example.com/ev/t:one"]);
    const tagged = (await replay({ since, types: ["image_tag"] })).map((e) => ({ id: e.imageId, ...e.attributes }));
    assert.deepEqual(tagged, [{ id: a.id, reference: "example.com/ev/t:two", name: "example.com/ev/t:two", action: "untag", tags: "example.com/ev/t:one" }]);

    // Removing one of several tags only untags (podman rmi); the image stays.
    await images().importPath(must(layoutB, "layout").dir, "example.com/ev/t:three");
    await images().remove("example.com/ev/t:three");
    const untag = (await replay({ since, images: [b.id] })).map((e) => `${e.type}:${e.attributes.name ?? ""}`);
    assert.deepEqual(untag, ["image_import:example.com/ev/t:two", "image_import:example.com/ev/t:three", "image_tag:example.com/ev/t:three"]);
    await images().remove(a.id, true);
    await images().remove(b.id, true);
  });

  it("a pull from a docker-registry is an image_pull event with the reference and manifest digest", async () => {
    const reg = await startDockerRegistry();
    const client = new ImageServiceClient(`unix:${s.d.socket}`, grpc.credentials.createInsecure());
    try {
      const layout = must(layoutB, "layout");
      await tagLayout(layout.dir, "v1");
      const digest = await reg.push(layout.dir, "v1", "ev/pulled", "v1");
      const since = new Date();
      const ref = `${reg.host}/ev/pulled:v1`;
      const id = await new Promise<string>((resolve, reject) => {
        let got = "";
        const call = client.pullImage({ reference: ref, username: "", password: "", insecure: true }, { deadline: new Date(Date.now() + 60_000) });
        call.on("data", (res: PullImageResponse) => {
          if (res.message?.$case === "image") got = res.message.value.id;
        });
        call.on("error", reject);
        call.on("end", () => resolve(got));
      });
      assert.equal(id, layout.configDigest);
      const pulled = await replay({ since, images: [ref] });
      assert.deepEqual(
        pulled.map((e) => ({ type: e.type, id: e.imageId, ...e.attributes })),
        [{ type: "image_pull", id, reference: ref, name: ref, digest }],
      );
      await images().remove(id);
    } finally {
      client.close();
      await reg.close();
    }
  });

  it("hull events --filter image= and type=image print image lines", async () => {
    const since = new Date();
    const a = await images().importPath(must(layoutA, "layout").dir, "example.com/ev/cli:v1");
    const c = await create(s.api, s.rootfs, ["true"]);
    s.made.push(c.id);
    await images().remove(a.id);
    const now = new Date().toISOString();
    const byImage = await runHull(s.d.socket, ["events", "--since", since.toISOString(), "--until", now, "--filter", "image=example.com/ev/cli:v1"]);
    assert.notEqual(byImage.code, 0, "the image is gone, so its reference names nothing");
    assert.match(byImage.stderr, /not found/);
    const byId = await runHull(s.d.socket, ["events", "--since", since.toISOString(), "--until", now, "--filter", `image=${a.id}`]);
    assert.equal(byId.code, 0, byId.stderr);
    const lines = byId.stdout.trim().split("\n");
    assert.equal(lines.length, 2, byId.stdout);
    assert.match(
      lines[0],
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d [0-9:.]+ \\+0000 UTC image import ${a.id.slice(7, 19)} \\(name=example\\.com/ev/cli:v1, reference=example\\.com/ev/cli:v1, source=path\\)$`,
      ),
    );
    assert.match(lines[1], new RegExp(` image remove ${a.id.slice(7, 19)} \\(`));
    const typed = await runHull(s.d.socket, [
      "events",
      "--since",
      since.toISOString(),
      "--until",
      now,
      "--filter",
      "type=image",
      "--no-trunc",
      "--format",
      "json",
    ]);
    assert.equal(typed.code, 0, typed.stderr);
    const objs = typed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; imageId?: string; containerId?: string });
    assert.deepEqual(
      objs.map((o) => [o.type, o.imageId]),
      [
        ["image_import", a.id],
        ["image_remove", a.id],
      ],
    );
    assert.ok(objs.every((o) => IMAGE_TYPES.includes(o.type) && !o.containerId));
    const containersOnly = await runHull(s.d.socket, ["events", "--since", since.toISOString(), "--until", now, "--filter", "type=container"]);
    assert.equal(containersOnly.code, 0, containersOnly.stderr);
    assert.deepEqual(
      containersOnly.stdout
        .trim()
        .split("\n")
        .map((l) => / container (\w+) /.exec(l)?.[1]),
      ["create"],
    );
  });
});
