// The in-place k8s-file walker (LogScanner), the frame builder attach feeds
// from it (LogFramer) and the ContainerLogs encoders (LogLinesEncoder,
// OutputFramesEncoder for raw): each checked against the per-record code it
// replaces (parseLogLine, the generated ContainerLogsResponse.encode).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LogScanner, parseLogLine, STDOUT, STDERR, type StreamCode } from "../../src/oci/logline.js";
import { FRAME_HEADROOM, LogFramer, OutputStream } from "../../src/ops/attach-output.js";
import { LogLinesEncoder } from "../../src/service/logs-encode.js";
import { OutputFramesEncoder } from "../../src/service/logs-frames.js";
import { ContainerLogsResponse, ContainerServiceService } from "../../src/gen/hull/v1/container.js";
import { preEncodedResponses } from "../../src/service/encoded.js";

const sent = preEncodedResponses(ContainerServiceService).containerLogs.responseSerialize;

const T0 = "2026-11-28T12:38:40.903049073+00:00";
const T1 = "2026-11-28T12:38:41.000000001+01:00";

interface Seen {
  stream: StreamCode;
  full: boolean;
  msg: string;
  recStart: number;
  time: string;
  timeText: string;
}

function scanAll(text: string, scanner = new LogScanner()): { seen: Seen[]; rest: number } {
  const data = Buffer.from(text);
  const seen: Seen[] = [];
  const rest = scanner.scan(data, 0, data.length, (stream, full, d, msgStart, msgEnd, recStart) => {
    if (full) assert.equal(d[msgEnd], 0x0a, "a full record's message is followed by its newline");
    seen.push({ stream, full, msg: d.toString("utf8", msgStart, msgEnd), recStart, time: scanner.time.toISOString(), timeText: scanner.timeText });
  });
  return { seen, rest };
}

describe("LogScanner", () => {
  it("visits each record in place, as parseLogLine reads it, and stops before an unfinished one", () => {
    const lines = [`${T0} stdout F hello`, `${T0} stderr P par`, `${T0} stderr F t`, `${T1} stdout F`, `${T1} stdout F  two spaces`];
    const text = `${lines.join("\n")}\n${T1} stdout F unfini`;
    const { seen, rest } = scanAll(text);
    assert.equal(rest, text.lastIndexOf("\n") + 1);
    assert.equal(seen.length, lines.length);
    let at = 0;
    for (const [i, line] of lines.entries()) {
      const e = parseLogLine(Buffer.from(line));
      assert.ok(e, line);
      const s = seen[i] as Seen;
      assert.deepEqual(
        { stream: s.stream === STDOUT ? "stdout" : "stderr", full: s.full, msg: s.msg, time: s.time, timeText: s.timeText, recStart: s.recStart },
        { stream: e.stream, full: e.full, msg: e.data.toString(), time: e.time.toISOString(), timeText: e.timeText, recStart: at },
      );
      at += line.length + 1;
    }
    assert.equal(seen[1]?.stream, STDERR);
  });

  it("skips the malformed lines parseLogLine refuses, whatever timestamp came before", () => {
    // A good record with one part broken at a time.
    const good = `${T0} stdout F x`;
    const bad = [
      "garbage",
      T0,
      good.replace(" F x", ""),
      good.replace(" F x", " "),
      good.replace("stdout", "stdin"),
      good.replace(" F ", " X "),
      good.replace(" F ", " FF "),
      good.replace(" F x", " Fx"),
      good.replace(T0, "not-a-time"),
      good.replace("+00:00", "+24:00"),
      good.replace("-28T", "-31T"),
    ];
    const scanner = new LogScanner();
    for (const line of bad) {
      // A good record first, so the scanner holds T0 as its last timestamp.
      const { seen } = scanAll(`${T0} stdout F ok\n${line}\n`, scanner);
      assert.deepEqual(
        seen.map((s) => s.msg),
        ["ok"],
        JSON.stringify(line),
      );
      assert.equal(parseLogLine(Buffer.from(line)), undefined, JSON.stringify(line));
    }
  });
});

describe("LogFramer", () => {
  it("merges one stream's output into frames and starts a new frame at each change of stream", () => {
    const frames: Array<{ stream: OutputStream; data: string }> = [];
    const views: Buffer[] = [];
    const framer = new LogFramer((stream, data, headroom) => {
      assert.equal(headroom, FRAME_HEADROOM);
      frames.push({ stream, data: data.toString() });
      views.push(data);
    });
    const src = Buffer.from("abcdefgh");
    framer.add(OutputStream.OUTPUT_STREAM_STDOUT, src, 0, 2);
    framer.add(OutputStream.OUTPUT_STREAM_STDOUT, src, 2, 4);
    framer.add(OutputStream.OUTPUT_STREAM_STDERR, src, 4, 5);
    framer.flush();
    framer.add(OutputStream.OUTPUT_STREAM_STDERR, src, 5, 8);
    const big = Buffer.alloc(300 * 1024, 0x78);
    framer.add(OutputStream.OUTPUT_STREAM_STDERR, big, 0, big.length);
    framer.flush();
    assert.deepEqual(
      frames.map((f) => [f.stream, f.data.length, f.data.slice(0, 4)]),
      [
        [OutputStream.OUTPUT_STREAM_STDOUT, 4, "abcd"],
        [OutputStream.OUTPUT_STREAM_STDERR, 1, "e"],
        [OutputStream.OUTPUT_STREAM_STDERR, 3, "fgh"],
        [OutputStream.OUTPUT_STREAM_STDERR, big.length, "xxxx"],
      ],
    );
    // Each frame has FRAME_HEADROOM bytes before it that no other frame uses.
    for (const [i, v] of views.entries()) {
      assert.ok(v.byteOffset >= FRAME_HEADROOM, `frame ${i} starts after its headroom`);
      const prev = views[i - 1];
      if (prev && prev.buffer === v.buffer)
        assert.ok(prev.byteOffset + prev.length + FRAME_HEADROOM <= v.byteOffset, `frame ${i} and its headroom follow frame ${i - 1}`);
    }
  });
});

describe("LogLinesEncoder", () => {
  it("writes the bytes the generated encoder writes, with and without timestamps", () => {
    const src = Buffer.from(`short${"y".repeat(200)}`);
    const times = [Date.UTC(2026, 10, 28, 12, 0, 0, 903), Date.UTC(1969, 11, 31, 23, 59, 59, 1), 0];
    for (const timestamps of [false, true]) {
      const enc = new LogLinesEncoder(timestamps);
      const want: ContainerLogsResponse = { lines: [], output: [] };
      const cases: Array<[StreamCode, boolean, number, number, number]> = [
        [STDOUT, true, times[0] as number, 0, 5],
        [STDERR, false, times[1] as number, 0, src.length],
        [STDOUT, true, times[2] as number, 3, 3],
      ];
      for (const [stream, full, t, from, to] of cases) {
        enc.add(stream, full, t, src, from, to);
        want.lines.push({ stream, full, data: src.subarray(from, to), time: timestamps ? new Date(t) : undefined });
      }
      const got = enc.take();
      assert.ok(got);
      // What grpc-js sends: the definition's serializer, as server.ts wraps it.
      const bytes = sent(got);
      assert.deepEqual(Buffer.from(bytes), Buffer.from(ContainerLogsResponse.encode(want).finish()));
      assert.equal(enc.take(), undefined, "nothing is left once taken");
      assert.deepEqual(
        ContainerLogsResponse.decode(bytes).lines.map((l) => [l.stream, l.full, l.data.toString(), l.time?.getTime()]),
        want.lines.map((l) => [l.stream, l.full, l.data.toString(), l.time?.getTime()]),
      );
    }
  });
});

describe("OutputFramesEncoder", () => {
  it("writes the bytes the generated encoder writes: one frame per run of a stream, full lines with their newline", () => {
    const src = Buffer.from(`${"a".repeat(70_000)}${"b".repeat(300)}`);
    // Message lengths giving 1-, 2- and 3-byte varints, a block outgrown, and an empty partial record.
    const adds: Array<[StreamCode, boolean, number, number]> = [
      [STDOUT, true, 0, 5],
      [STDOUT, false, 5, 10],
      [STDERR, true, 70_000, 70_100],
      [STDERR, false, 0, 0],
      ...Array.from({ length: 8 }, (): [StreamCode, boolean, number, number] => [STDOUT, true, 0, 70_000]),
      [STDERR, false, 70_000, 70_001],
    ];
    const enc = new OutputFramesEncoder();
    const want: Array<{ stream: OutputStream; data: Buffer }> = [];
    for (const [stream, full, from, to] of adds) {
      enc.add(stream, full, 0, src, from, to);
      const bytes = Buffer.concat([src.subarray(from, to), Buffer.from(full ? "\n" : "")]);
      if (bytes.length === 0) continue;
      const last = want.at(-1);
      if (last && last.stream === stream) last.data = Buffer.concat([last.data, bytes]);
      else want.push({ stream, data: bytes });
    }
    const got = enc.take();
    assert.ok(got);
    const bytes = sent(got);
    assert.deepEqual(Buffer.from(bytes), Buffer.from(ContainerLogsResponse.encode({ lines: [], output: want }).finish()));
    assert.equal(enc.take(), undefined, "nothing is left once taken");
    // The next response starts a new frame even for the same stream.
    enc.add(STDERR, true, 0, src, 70_000, 70_002);
    assert.deepEqual(ContainerLogsResponse.decode(sent(enc.take() ?? { lines: [], output: [] })).output, [{ stream: STDERR, data: Buffer.from("bb\n") }]);
  });
});
