// service/encoded.ts: a response assembled from cached element bytes is the
// message ts-proto would have written, and the serializer sends those bytes;
// attach-encode.ts writes output frames the same way, in place when the
// frame has headroom.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AttachContainerResponse, Container, ContainerServiceService, ListContainersResponse, OutputStream } from "../../src/gen/hull/v1/container.js";
import { messageFieldFrame, preEncoded, preEncodedResponses } from "../../src/service/encoded.js";
import { encodedAttachResponse } from "../../src/service/attach-encode.js";
import { FRAME_HEADROOM } from "../../src/ops/attach-output.js";

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

describe("attach output frames", () => {
  const serialize = preEncodedResponses(ContainerServiceService).attachContainer.responseSerialize;
  // Lengths with 1-, 2- and 3-byte varints, and the stream's default left out.
  const cases: Array<[OutputStream, number]> = [
    [OutputStream.OUTPUT_STREAM_STDOUT, 1],
    [OutputStream.OUTPUT_STREAM_STDERR, 127],
    [OutputStream.OUTPUT_STREAM_STDOUT, 128],
    [OutputStream.OUTPUT_STREAM_STDERR, 300 * 1024],
    [OutputStream.OUTPUT_STREAM_UNSPECIFIED, 5],
    [OutputStream.OUTPUT_STREAM_STDOUT, 0],
  ];

  it("are the bytes ts-proto writes, copied without headroom and written in place with it", () => {
    for (const [stream, n] of cases) {
      const block = Buffer.alloc(FRAME_HEADROOM + n + 8, 0xee);
      const data = block.subarray(FRAME_HEADROOM, FRAME_HEADROOM + n).fill(0x61 + (n % 26));
      const msg: AttachContainerResponse = { message: { $case: "output", value: { stream, data } } };
      const want = Buffer.from(AttachContainerResponse.encode(msg).finish());
      const copied = serialize(encodedAttachResponse(msg, 0));
      assert.deepEqual(copied, want, `stream ${stream}, ${n} bytes, copied`);
      assert.notEqual(copied.buffer, block.buffer, "without headroom the frame is copied");
      const inPlace = serialize(encodedAttachResponse(msg, FRAME_HEADROOM));
      assert.deepEqual(inPlace, want, `stream ${stream}, ${n} bytes, in place`);
      assert.equal(inPlace.buffer, block.buffer, "with headroom the header goes before the data, in the same memory");
      assert.equal(inPlace.byteOffset + inPlace.length, block.byteOffset + FRAME_HEADROOM + n);
      assert.ok(
        block.subarray(FRAME_HEADROOM + n).every((b) => b === 0xee),
        "nothing after the frame is touched",
      );
    }
  });

  it("leaves control messages to the generated encoder", () => {
    const msg: AttachContainerResponse = { message: { $case: "exitCode", value: 3 } };
    assert.equal(encodedAttachResponse(msg, FRAME_HEADROOM), msg);
    assert.deepEqual(serialize(msg), Buffer.from(AttachContainerResponse.encode(msg).finish()));
  });
});
