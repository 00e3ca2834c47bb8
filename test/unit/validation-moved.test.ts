// Checks that moved into src/validation/ from the handlers, the operations
// and the store: the attach's open message and HTTP query, its later
// messages, the Events filter's types and window, a checkpoint's target, and
// the container reference rule the store shares with validation.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HullError } from "../../src/errors.js";
import { AttachOpen, CheckpointContainerRequest, EventsRequest } from "../../src/gen/hull/v1/container.js";
import * as v from "../../src/validation/requests.js";
import { FULL_ID, checkContainerRef } from "../../src/validation/rules.js";
import { checkContainerRef as storeRule } from "../../src/domain/container-ref.js";

function refusedWith(fn: () => unknown, field: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HullError && e.reason === "INVALID_ARGUMENT", String(e));
    assert.equal(e.metadata.field, field, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

async function rejectsWith(p: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof HullError && e.reason === "INVALID_ARGUMENT" && e.metadata.field === field);
}

describe("attach requests", () => {
  it("parses the open message into the attach's options, refusing by field", () => {
    const o = v.parseAttachOpen(AttachOpen.fromPartial({ id: "web", stdin: true, detachKeys: "ctrl-a,x", start: true }));
    assert.deepEqual(o, {
      ref: "web",
      streams: { stdin: true, stdout: false, stderr: false },
      detachKeys: Buffer.from([1, 0x78]),
      logs: false,
      stream: true,
      start: true,
      recursive: false,
    });
    refusedWith(() => v.parseAttachOpen(AttachOpen.fromPartial({ id: "a/b" })), "open.id");
    refusedWith(() => v.parseAttachOpen(AttachOpen.fromPartial({ id: "c", detachKeys: "ctrl-", stream: false })), "open.detach_keys");
  });

  it("checks a later message's resize", () => {
    v.validateAttachInput({ message: { $case: "resize", value: { height: 24, width: 80 } } });
    v.validateAttachInput({ message: { $case: "stdin", value: Buffer.from("x") } });
    refusedWith(() => v.validateAttachInput({ message: { $case: "resize", value: { height: 0, width: 80 } } }), "resize.height");
  });

  it("checks Docker's query, naming each parameter", () => {
    const q = (s: string): URLSearchParams => new URLSearchParams(s);
    assert.deepEqual(v.parseAttachQuery("my%2Dweb", q("stream=1&stdin=true&detachKeys=ctrl-p,ctrl-q")), {
      ref: "my-web",
      stream: true,
      logs: false,
      stdin: true,
      stdout: false,
      stderr: false,
      detachKeys: "ctrl-p,ctrl-q",
    });
    refusedWith(() => v.parseAttachQuery("x", q("stream=1&detachKeys=ctrl-")), "detachKeys");
    refusedWith(() => v.parseAttachQuery("x", q("logs=maybe")), "logs", /not a boolean/);
    refusedWith(() => v.parseAttachQuery("x", q("")), "stream", /at least one of stream and logs/);
    refusedWith(() => v.parseAttachQuery("a%2Fb", q("stream=1")), "id");
    refusedWith(() => v.parseAttachQuery("%E0%A4%A", q("stream=1")), "id", /URL-encoded/);
  });
});

describe("events requests", () => {
  it("refuses a type hulld never emits and a window that ends before it starts", () => {
    v.validateEventsRequest(EventsRequest.fromPartial({ types: ["start", "image_pull"] }));
    refusedWith(() => v.validateEventsRequest(EventsRequest.fromPartial({ types: ["start", "explode"] })), "types[1]", /"explode" is not an event type/);
    refusedWith(() => v.validateEventsRequest(EventsRequest.fromPartial({ since: new Date(2000), until: new Date(1000) })), "until", /is before since/);
    v.validateEventsRequest(EventsRequest.fromPartial({ since: new Date(1000), until: new Date(1000) }));
  });
});

describe("checkpoint target", () => {
  it("needs an existing directory and a path that is not one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hull-target-"));
    try {
      const req = (targetFile: string): CheckpointContainerRequest => CheckpointContainerRequest.fromPartial({ id: "c", targetFile });
      await v.validateCheckpointTarget(req(""));
      await v.validateCheckpointTarget(req(join(dir, "new.tar")));
      await writeFile(join(dir, "old.tar"), "");
      await v.validateCheckpointTarget(req(join(dir, "old.tar")));
      await rejectsWith(v.validateCheckpointTarget(req(join(dir, "missing", "x.tar"))), "target_file");
      await rejectsWith(v.validateCheckpointTarget(req(dir)), "target_file");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("container references", () => {
  it("are one rule for requests and the store", () => {
    assert.equal(checkContainerRef, storeRule);
    assert.ok(FULL_ID.test("a".repeat(64)) && !FULL_ID.test("A".repeat(64)) && !FULL_ID.test("a".repeat(63)));
    refusedWith(() => storeRule("id", "x y"), "id");
  });
});
