// hull's SPDY/3.1 (src/streaming/spdy/): the frame codec under random
// chunking, header blocks on one zlib context per direction, the dictionary
// pinned to spdystream's bytes, and two sessions over a real TCP connection:
// bulk transfer, half-close, resets, ping, GOAWAY, idle timeout, flow-control
// announcements, and malformed input from a raw socket.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { type Readable, type Writable } from "node:stream";
import fc from "fast-check";
import { SPDY3_DICTIONARY } from "../../src/service/streaming/spdy/dictionary.js";
import {
  encodeFrame,
  type Frame,
  FrameParser,
  GoAwayStatus,
  RstStatus,
  SpdyProtocolError,
  SpdyStreamResetError,
} from "../../src/service/streaming/spdy/frames.js";
import { decodeHeaderBlock, encodeHeaderBlock, HeaderCompressor, HeaderDecompressor } from "../../src/service/streaming/spdy/header-block.js";
import { SpdySession, type SpdySessionOptions, type SpdyStream } from "../../src/service/streaming/spdy/session.js";

/** sha256 of the 1423 bytes of headerDictionary in moby/spdystream spdy/dictionary.go. */
const SPDYSTREAM_DICTIONARY_SHA256 = "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02";

const sampleFrames: Frame[] = [
  { type: "data", streamId: 1, flags: 0, data: Buffer.from("hello") },
  { type: "data", streamId: 0x7fffffff, flags: 1, data: Buffer.alloc(0) },
  { type: "syn_stream", streamId: 3, associatedId: 1, priority: 7, slot: 2, flags: 3, headerBlock: Buffer.from([1, 2, 3]) },
  { type: "syn_reply", streamId: 3, flags: 1, headerBlock: Buffer.from([9, 8]) },
  { type: "rst_stream", streamId: 5, status: RstStatus.CANCEL },
  {
    type: "settings",
    flags: 1,
    settings: [
      { id: 7, flags: 1, value: 65536 },
      { id: 4, flags: 0, value: 100 },
    ],
  },
  { type: "settings", flags: 0, settings: [] },
  { type: "ping", id: 0xffffffff },
  { type: "goaway", lastGoodStreamId: 7, status: GoAwayStatus.INTERNAL_ERROR },
  { type: "headers", streamId: 9, flags: 0, headerBlock: Buffer.alloc(0) },
  { type: "window_update", streamId: 0, delta: 0x7fffffff },
];

// Parsed frames are ordinary objects, and strict deepEqual compares prototypes.
const plain = { noNullPrototype: true } as const;
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record(
    {
      type: fc.constant("data" as const),
      streamId: fc.integer({ min: 1, max: 0x7fffffff }),
      flags: fc.constantFrom(0, 1),
      data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    },
    plain,
  ),
  fc.record(
    {
      type: fc.constant("syn_stream" as const),
      streamId: fc.integer({ min: 1, max: 0x7fffffff }),
      associatedId: fc.integer({ min: 0, max: 0x7fffffff }),
      priority: fc.integer({ min: 0, max: 7 }),
      slot: fc.integer({ min: 0, max: 255 }),
      flags: fc.integer({ min: 0, max: 3 }),
      headerBlock: fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)),
    },
    plain,
  ),
  fc.record({ type: fc.constant("rst_stream" as const), streamId: fc.integer({ min: 1, max: 0x7fffffff }), status: fc.integer({ min: 1, max: 11 }) }, plain),
  fc.record({ type: fc.constant("ping" as const), id: fc.nat() }, plain),
  fc.record(
    { type: fc.constant("window_update" as const), streamId: fc.integer({ min: 0, max: 0x7fffffff }), delta: fc.integer({ min: 1, max: 0x7fffffff }) },
    plain,
  ),
);

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  return out;
}

function parseAll(chunks: Buffer[], max?: number): Frame[] {
  const p = new FrameParser(max);
  const out = chunks.flatMap((c) => p.push(c));
  p.finish();
  return out;
}

function protocolError(status?: number): (err: unknown) => boolean {
  return (err) => err instanceof SpdyProtocolError && (status === undefined || err.status === status);
}

describe("spdy frames", () => {
  it("round-trips every frame type", () => {
    for (const f of sampleFrames) assert.deepEqual(parseAll([encodeFrame(f)]), [f]);
  });

  it("parses the same frames fed byte by byte and in arbitrary splits", () => {
    const all = Buffer.concat(sampleFrames.map(encodeFrame));
    assert.deepEqual(parseAll([...all].map((b) => Buffer.from([b]))), sampleFrames);
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map(encodeFrame));
        assert.deepEqual(parseAll(split(bytes, cuts)), frames);
      }),
    );
  });

  it("ignores unknown control frame types and refuses protocol violations", () => {
    const unknown = Buffer.from([0x80, 3, 0, 0x0a, 0, 0, 0, 2, 0xaa, 0xbb]);
    assert.deepEqual(parseAll([unknown, encodeFrame(sampleFrames[7])]), [{ type: "unknown", frameType: 10, flags: 0, length: 2 }, sampleFrames[7]]);
    const v2 = encodeFrame(sampleFrames[7]);
    v2.writeUInt16BE(0x8002, 0);
    assert.throws(() => new FrameParser().push(v2), protocolError(RstStatus.UNSUPPORTED_VERSION));
    assert.throws(() => new FrameParser().push(encodeFrame({ type: "data", streamId: 0, flags: 0, data: Buffer.alloc(1) })), protocolError());
    // Refused from the header alone, before the body arrives.
    assert.throws(
      () => new FrameParser(1024).push(encodeFrame({ type: "data", streamId: 1, flags: 0, data: Buffer.alloc(2048) }).subarray(0, 8)),
      protocolError(RstStatus.FRAME_TOO_LARGE),
    );
    assert.throws(() => parseAll([encodeFrame(sampleFrames[0]).subarray(0, 10)]), protocolError());
    const badRst = encodeFrame({ type: "rst_stream", streamId: 1, status: 1 });
    badRst.writeUInt32BE(0, 12);
    assert.throws(() => parseAll([badRst]), protocolError());
    const shortPing = Buffer.from([0x80, 3, 0, 6, 0, 0, 0, 2, 0, 1]);
    assert.throws(() => parseAll([shortPing]), protocolError());
  });
});

describe("spdy header blocks", () => {
  it("is the SPDY/3 dictionary, byte for byte", () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
    assert.equal(createHash("sha256").update(SPDY3_DICTIONARY).digest("hex"), SPDYSTREAM_DICTIONARY_SHA256);
  });

  it("encodes names lowercase and multiple values NUL-joined", () => {
    const block = encodeHeaderBlock({ StreamType: "stdout", "x-multi": ["a", "b"] });
    assert.deepEqual({ ...decodeHeaderBlock(block) }, { streamtype: ["stdout"], "x-multi": ["a", "b"] });
    assert.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), protocolError());
  });

  it("keeps one context each way across many blocks, in order even when calls overlap", async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    const inputs = Array.from({ length: 20 }, (_, i) => ({ streamtype: i % 2 ? "stdout" : "stdin", port: String(8000 + i), requestid: `r${i}` }));
    const blocks = await Promise.all(inputs.map((h) => c.compress(h)));
    // Later blocks reuse the context's history, so a fresh inflater could not read them.
    assert.ok(blocks[19].length < blocks[0].length);
    const decoded = await Promise.all(blocks.map((b, i) => d.decompress(b, i + 1)));
    assert.deepEqual(
      decoded.map((h) => ({ ...h })),
      inputs.map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, [v]]))),
    );
    c.close();
    d.close();
  });

  it("refuses a block that is not zlib, or inflates past the bound", async () => {
    await assert.rejects(new HeaderDecompressor().decompress(Buffer.from("not zlib at all"), 3), protocolError());
    const big = await new HeaderCompressor().compress({ big: "x".repeat(10_000) });
    await assert.rejects(new HeaderDecompressor(1000).decompress(big, 1), protocolError());
  });
});

interface Pair {
  client: SpdySession;
  server: SpdySession;
  clientSocket: net.Socket;
  serverSocket: net.Socket;
  close(): Promise<void>;
}

async function sockets(): Promise<[net.Socket, net.Socket]> {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const accepted = once(srv, "connection") as Promise<[net.Socket]>;
  const port = (srv.address() as net.AddressInfo).port;
  const c = net.connect(port, "127.0.0.1");
  await once(c, "connect");
  const [s] = await accepted;
  srv.close();
  return [c, s];
}

async function pair(server: Partial<SpdySessionOptions> = {}, client: Partial<SpdySessionOptions> = {}): Promise<Pair> {
  const [cs, ss] = await sockets();
  const p: Pair = {
    clientSocket: cs,
    serverSocket: ss,
    client: new SpdySession(cs, { ...client, role: "client" }),
    server: new SpdySession(ss, { ...server, role: "server" }),
    async close() {
      const done = Promise.all([once(p.client, "close"), once(p.server, "close")]);
      await p.client.close();
      await done;
      assert.equal(p.client.openStreams, 0);
      assert.equal(p.server.openStreams, 0);
    },
  };
  return p;
}

// Not for-await: its iterator destroys a Duplex whose writable side is still open when the readable side ends.
function collect(s: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.once("end", () => resolve(Buffer.concat(chunks)));
    s.once("error", reject);
  });
}

async function send(s: Writable, data: Buffer, piece: number): Promise<void> {
  for (let at = 0; at < data.length; at += piece) if (!s.write(data.subarray(at, at + piece))) await once(s, "drain");
  s.end();
  await once(s, "finish");
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("spdy sessions", { timeout: 5000 }, () => {
  it("moves 10 MiB each way over four concurrent streams, byte for byte", async () => {
    const p = await pair();
    const n = 4;
    const up = Array.from({ length: n }, () => randomBytes((10 << 20) / n));
    const down = Array.from({ length: n }, () => randomBytes((10 << 20) / n));
    const served: Promise<string>[] = [];
    p.server.on("stream", (s) => {
      const i = Number(s.headers.index);
      s.reply({ ok: "yes" });
      served.push(Promise.all([collect(s), send(s, down[i], 100_000)]).then(([got]) => sha(got)));
    });
    // Each stream is read as soon as it opens: an unread stream over its highWaterMark pauses the whole socket.
    const got = await Promise.all(
      up.map(async (data, i) => {
        const s = await p.client.openStream({ Index: String(i) });
        assert.equal(s.replyHeaders.ok, "yes");
        const [b] = await Promise.all([collect(s), send(s, data, 33_333)]);
        return sha(b);
      }),
    );
    assert.deepEqual(got, down.map(sha));
    assert.deepEqual(await Promise.all(served), up.map(sha));
    assert.equal(p.client.openStreams, 0);
    assert.equal(p.server.openStreams, 0);
    await p.close();
  });

  it("half-closes: the server reads to the client's FIN and still answers", async () => {
    const p = await pair();
    p.server.on("stream", (s) => {
      s.reply();
      void collect(s).then((b) => s.end(Buffer.concat([Buffer.from("got "), b])));
    });
    const s = await p.client.openStream({});
    s.end("ping");
    assert.equal((await collect(s)).toString(), "got ping");
    await p.close();
  });

  it("resets both ways, naming the stream and status", async () => {
    const p = await pair();
    let serverSide: SpdyStream | undefined;
    p.server.on("stream", (s) => {
      if (s.headers.mode === "refuse") return s.reset(RstStatus.REFUSED_STREAM);
      serverSide = s;
      s.reply();
    });
    await assert.rejects(
      p.client.openStream({ mode: "refuse" }),
      (err: unknown) => err instanceof SpdyStreamResetError && err.status === RstStatus.REFUSED_STREAM && err.streamId === 1,
    );
    const a = await p.client.openStream({ mode: "a" });
    const serverErr = once(serverSide as SpdyStream, "error");
    a.reset(RstStatus.CANCEL);
    const [e1] = (await serverErr) as [SpdyStreamResetError];
    assert.match(e1.message, /stream 3 .*CANCEL/);
    const b = await p.client.openStream({ mode: "b" });
    const clientErr = once(b, "error");
    (serverSide as SpdyStream).reset(RstStatus.INTERNAL_ERROR);
    const [e2] = (await clientErr) as [SpdyStreamResetError];
    assert.equal(e2.streamId, 5);
    assert.equal(e2.status, RstStatus.INTERNAL_ERROR);
    await p.close();
  });

  it("answers pings both ways", async () => {
    const p = await pair();
    assert.ok((await p.client.ping()) >= 0);
    assert.ok((await p.server.ping()) >= 0);
    await p.close();
  });

  it("refuses new streams after GOAWAY and closes once streams are done", async () => {
    const p = await pair();
    const goaway = once(p.client, "goaway");
    const closed = Promise.all([once(p.client, "close"), once(p.server, "close")]);
    p.server.goAway();
    assert.deepEqual(await goaway, [{ status: GoAwayStatus.OK, lastGoodStreamId: 0 }]);
    await assert.rejects(p.client.openStream({}), /GOAWAY/);
    await closed;
  });

  it("closes an idle session with GOAWAY", async () => {
    const p = await pair({ idleTimeoutMs: 30 });
    const events: string[] = [];
    p.server.on("timeout", () => events.push("timeout"));
    p.client.on("goaway", () => events.push("goaway"));
    await Promise.all([once(p.client, "close"), once(p.server, "close")]);
    assert.deepEqual(events, ["timeout", "goaway"]);
  });

  it("announces consumed data with WINDOW_UPDATE, per stream and for the session", async () => {
    const p = await pair();
    const size = 300_000;
    const acked = new Map<number, number>();
    p.client.on("window_update", ({ streamId, delta }) => acked.set(streamId, (acked.get(streamId) ?? 0) + delta));
    p.server.on("stream", (s) => {
      s.reply();
      void collect(s).then((b) => s.end(String(b.length)));
    });
    const s = await p.client.openStream({});
    s.end(randomBytes(size));
    assert.equal((await collect(s)).toString(), String(size));
    await p.client.ping(); // frames are ordered, so every update the server sent has arrived
    assert.equal(acked.get(1), size);
    assert.equal(acked.get(0), size);
    await p.close();
  });
});

describe("spdy backpressure and loss", { timeout: 5000 }, () => {
  it("stops reading the socket while a stream's buffer is full, and resumes as it is read", async () => {
    const hwm = 64 * 1024;
    const p = await pair({ streamHighWaterMark: hwm });
    const inbound = new Promise<SpdyStream>((resolve) => p.server.on("stream", (s) => (s.reply(), resolve(s))));
    const s = await p.client.openStream({});
    const data = randomBytes(4 << 20);
    s.end(data);
    const unread = await inbound;
    // Not a timer: turn the event loop until the unread stream has filled its buffer.
    while (unread.readableLength < hwm) await new Promise((r) => setImmediate(r));
    assert.ok(p.serverSocket.isPaused());
    assert.ok(unread.readableLength < data.length / 2, `buffered ${unread.readableLength}`);
    const got = collect(unread);
    assert.equal(sha(await got), sha(data));
    assert.ok(!p.serverSocket.isPaused());
    unread.end();
    await collect(s);
    await p.close();
  });

  it("destroys open streams with an error naming them when the connection drops", async () => {
    const p = await pair();
    const inbound = new Promise<SpdyStream>((resolve) => p.server.on("stream", (s) => (s.reply(), resolve(s))));
    const s = await p.client.openStream({});
    s.on("error", () => undefined);
    const serverStream = await inbound;
    const err = once(serverStream, "error");
    const events: string[] = [];
    p.server.on("error", () => events.push("error"));
    const closed = once(p.server, "close");
    p.clientSocket.destroy();
    const [e] = (await err) as [Error];
    assert.match(e.message, /stream 1: /);
    await closed;
    assert.deepEqual(events, []);
    assert.equal(p.server.openStreams, 0);
  });

  it("replies before any DATA, splits writes into frames of at most 64 KiB, and ends with an empty FIN", async () => {
    const [raw, ss] = await sockets();
    const session = new SpdySession(ss, { role: "server" });
    session.on("stream", (s) => s.end(Buffer.alloc(200_000, 7)));
    const c = new HeaderCompressor();
    raw.write(encodeFrame({ type: "syn_stream", streamId: 1, associatedId: 0, priority: 0, slot: 0, flags: 1, headerBlock: await c.compress({}) }));
    const parser = new FrameParser();
    const frames: Frame[] = [];
    await new Promise<void>((resolve) =>
      raw.on("data", (chunk: Buffer) => {
        frames.push(...parser.push(chunk));
        const last = frames.at(-1);
        if (last?.type === "data" && last.flags === 1) resolve();
      }),
    );
    assert.equal(frames[0].type, "syn_reply");
    const data = frames.slice(1).map((f) => (f.type === "data" ? f.data : assert.fail(`unexpected ${f.type}`)));
    assert.ok(data.every((d) => d.length <= 64 * 1024));
    assert.equal(Buffer.concat(data).length, 200_000);
    assert.equal(data.at(-1)?.length, 0);
    assert.equal(session.openStreams, 0);
    const closed = once(session, "close");
    raw.end();
    await closed;
    c.close();
  });

  it("accepts SETTINGS, ignores unknown control frames, and echoes the peer's PING", async () => {
    const [raw, ss] = await sockets();
    const session = new SpdySession(ss, { role: "server" });
    const settings = once(session, "settings");
    const echoed = new Promise<Frame[]>((resolve) => {
      const parser = new FrameParser();
      raw.on("data", (c: Buffer) => {
        const frames = parser.push(c);
        if (frames.length > 0) resolve(frames);
      });
    });
    raw.write(encodeFrame({ type: "settings", flags: 0, settings: [{ id: 7, flags: 0, value: 1 << 20 }] }));
    raw.write(Buffer.from([0x80, 3, 0, 0x0a, 0, 0, 0, 1, 0xaa]));
    raw.write(encodeFrame({ type: "ping", id: 7 }));
    assert.deepEqual(await settings, [[{ id: 7, flags: 0, value: 1 << 20 }]]);
    assert.deepEqual(await echoed, [{ type: "ping", id: 7 }]);
    const closed = once(session, "close");
    raw.end();
    await closed;
  });
});

describe("spdy malformed input", { timeout: 5000 }, () => {
  async function attack(
    bytes: (c: HeaderCompressor) => Promise<Buffer[]>,
    options: Partial<SpdySessionOptions> = {},
  ): Promise<{ frames: Frame[]; error: Error; streamErrors: string[] }> {
    const [raw, ss] = await sockets();
    const session = new SpdySession(ss, { ...options, role: "server" });
    const events: string[] = [];
    const error = new Promise<Error>((resolve) => session.on("error", (e) => (events.push("error"), resolve(e))));
    session.on("close", () => events.push("close"));
    const streamErrors: string[] = [];
    session.on("stream", (s) => s.on("error", (e: Error) => streamErrors.push(e.message)));
    const received = collect(raw);
    const c = new HeaderCompressor();
    for (const b of await bytes(c)) raw.write(b);
    const frames = new FrameParser().push(await received);
    const err = await error;
    assert.deepEqual(events, ["error", "close"]);
    assert.equal(session.openStreams, 0);
    c.close();
    return { frames, error: err, streamErrors };
  }

  const syn = async (c: HeaderCompressor, id: number): Promise<Buffer> =>
    encodeFrame({ type: "syn_stream", streamId: id, associatedId: 0, priority: 0, slot: 0, flags: 0, headerBlock: await c.compress({ a: "b" }) });

  // Each case but the version 2 frame first opens stream 1, which must then fail with the session, by its id.
  const cases: [string, (c: HeaderCompressor) => Promise<Buffer[]>, Partial<SpdySessionOptions>?][] = [
    ["garbage", async (c) => [await syn(c, 1), Buffer.from("\xde\xad\xbe\xefgarbage", "latin1")]],
    ["a version 2 frame", async () => [Buffer.from([0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1])]],
    [
      "an oversized frame",
      async (c) => [await syn(c, 1), encodeFrame({ type: "data", streamId: 1, flags: 0, data: Buffer.alloc(4096) })],
      { maxFrameLength: 1024 },
    ],
    [
      "a header block that is not zlib",
      async (c) => [await syn(c, 1), encodeFrame({ type: "headers", streamId: 1, flags: 0, headerBlock: Buffer.from("plain text") })],
    ],
    ["a reused stream id", async (c) => [await syn(c, 1), await syn(c, 1)]],
  ];
  for (const [name, bytes, options] of cases) {
    it(`answers ${name} with GOAWAY PROTOCOL_ERROR and closes`, async () => {
      const { frames, error, streamErrors } = await attack(bytes, options);
      assert.ok(error instanceof SpdyProtocolError, String(error));
      assert.equal(streamErrors.length, name === "a version 2 frame" ? 0 : 1);
      for (const m of streamErrors) assert.match(m, /^spdy: stream 1: session failed: /);
      const last = frames.at(-1);
      assert.deepEqual(last, { type: "goaway", lastGoodStreamId: last?.type === "goaway" ? last.lastGoodStreamId : -1, status: GoAwayStatus.PROTOCOL_ERROR });
    });
  }
});
