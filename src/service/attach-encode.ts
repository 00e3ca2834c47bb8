// AttachContainerResponse output frames written as bytes: `OutputFrame
// output = 1` holding `OutputStream stream = 1` and `bytes data = 2`, as
// ts-proto would encode them (proto3 defaults left out). The generated
// encoder copies the data three times on the way (into its writer's chunk,
// joining the chunks, into a Buffer) and that was most of hulld's own cost
// of a fast attach (issue 12); here it is copied once, or not at all when
// the frame has room for the header before it (LogFramer's do).
import { AttachContainerResponse } from "../gen/hull/v1/container.js";
import { preEncoded, varintLength, writeVarint } from "./encoded.js";

const TAG_OUTPUT = 0x0a;
const TAG_STREAM = 0x08;
const TAG_DATA = 0x12;

/**
 * The message as it goes on the wire: output frames pre-encoded, anything
 * else as it is. With `headroom` free bytes before the frame's data
 * (MessageWriter), the header is written there and the data is not copied.
 */
export function encodedAttachResponse(msg: AttachContainerResponse, headroom = 0): AttachContainerResponse {
  if (msg.message?.$case !== "output") return msg;
  const { stream, data } = msg.message.value;
  const streamSize = stream === 0 ? 0 : 1 + varintLength(stream);
  const dataHeader = data.length === 0 ? 0 : 1 + varintLength(data.length);
  const inner = streamSize + dataHeader + data.length;
  const header = 1 + varintLength(inner) + streamSize + dataHeader;
  const inPlace = headroom >= header && data.byteOffset >= header;
  const out = inPlace ? Buffer.from(data.buffer, data.byteOffset - header, header + data.length) : Buffer.allocUnsafe(header + data.length);
  let p = writeVarint(out, 0, TAG_OUTPUT);
  p = writeVarint(out, p, inner);
  if (streamSize > 0) {
    out[p++] = TAG_STREAM;
    p = writeVarint(out, p, stream);
  }
  if (dataHeader > 0) {
    out[p++] = TAG_DATA;
    p = writeVarint(out, p, data.length);
    if (!inPlace) out.set(data, p);
  }
  return preEncoded(out, AttachContainerResponse);
}
