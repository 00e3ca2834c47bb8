// service/encoded.ts: a response assembled from cached element bytes is the
// message ts-proto would have written, and the serializer sends those bytes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Container, ContainerServiceService, ListContainersResponse } from "../../src/gen/hull/v1/container.js";
import { messageFieldFrame, preEncoded, preEncodedResponses } from "../../src/service/encoded.js";

function container(i: number, commandLength: number): Container {
  return Container.fromPartial({
    id: i.toString(16).padStart(64, "0"),
    name: `c-${i}`,
    state: 1 + (i % 3),
    createdAt: new Date(1_700_000_000_000 + i),
    config: { name: `c-${i}`, rootfsPath: "/r", command: ["x".repeat(commandLength)], labels: { k: String(i) } },
  });
}

describe("pre-encoded responses", () => {
  // 0, 1- and 2-byte and 3-byte length varints.
  const containers = [container(0, 1), container(1, 200), container(2, 20_000), container(3, 70_000)];

  it("frames concatenate to the bytes ts-proto writes for the whole list", () => {
    const frames = containers.map((c) => messageFieldFrame(1, Container.encode(c).finish()));
    const expected = Buffer.from(ListContainersResponse.encode({ containers }).finish());
    assert.deepEqual(Buffer.concat(frames), expected);
  });

  it("the serializer sends a preEncoded response's bytes; its fields decode on read", () => {
    const bytes = Buffer.concat(containers.map((c) => messageFieldFrame(1, Container.encode(c).finish())));
    const res = preEncoded(bytes, ListContainersResponse);
    const def = preEncodedResponses(ContainerServiceService);
    assert.equal(def.listContainers.responseSerialize(res), bytes);
    assert.deepEqual(res.containers, containers);
    assert.deepEqual(Object.keys(res), ["containers"]);
    // A plain response still goes through ts-proto.
    assert.deepEqual(def.listContainers.responseSerialize({ containers }), bytes);
  });
});
