// The k8s-file log parser and follower (src/oci/logfile.ts) against files the
// test writes itself: hulld's rotation (log-rotate.ts: PATH renamed to
// PATH.1 while its writer still has it open, then a new PATH), and one done
// the way conmon 2.1.6 does it (write PATH.tmp, rename it over PATH).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseLogLine, parseLogTime, queryLog, readLogEntries, type LogEntry } from "../../src/oci/logfile.js";
import { rotateLogFile } from "../../src/oci/log-rotate.js";
import type { HullError } from "../../src/errors.js";

const T0 = "2026-11-28T12:38:40.903049073+00:00";

function rec(stream: "stdout" | "stderr", tag: "F" | "P", msg: string, time = T0): string {
  return `${time} ${stream} ${tag} ${msg}\n`;
}

function text(e: LogEntry): string {
  return e.data.toString();
}

async function collect(it: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Pulls exactly n entries from a (following) iterator. */
async function take(it: AsyncIterator<LogEntry>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await it.next();
    assert.ok(!r.done, `the log ended after ${out.length} of ${n} entries: ${JSON.stringify(out)}`);
    out.push(text(r.value));
  }
  return out;
}

describe("parseLogLine", () => {
  it("parses full and partial records, with or without the record's newline", () => {
    const f = parseLogLine(Buffer.from(rec("stdout", "F", "hello world")));
    assert.ok(f);
    assert.equal(f.stream, "stdout");
    assert.equal(f.full, true);
    assert.equal(text(f), "hello world");
    assert.equal(f.timeText, T0);
    assert.equal(f.time.toISOString(), "2026-11-28T12:38:40.903Z");
    const p = parseLogLine(Buffer.from(`${T0} stderr P part`));
    assert.ok(p);
    assert.equal(p.stream, "stderr");
    assert.equal(p.full, false);
    assert.equal(text(p), "part");
  });

  it("keeps any bytes but newline in the message, spaces and carriage returns included", () => {
    const msg = Buffer.from([0x00, 0xff, 0x20, 0x0d, 0x41, 0x20, 0x20, 0xc3, 0x28]);
    const line = Buffer.concat([Buffer.from(`${T0} stdout F `), msg, Buffer.from("\n")]);
    const e = parseLogLine(line);
    assert.ok(e);
    assert.deepEqual(e.data, msg);
  });

  it("reads an empty message (an empty line of output)", () => {
    for (const line of [`${T0} stdout F \n`, `${T0} stdout F`]) {
      const e = parseLogLine(Buffer.from(line));
      assert.ok(e, line);
      assert.equal(e.data.length, 0);
      assert.equal(e.full, true);
    }
  });

  it("applies the zone offset conmon writes (local time)", () => {
    const e = parseLogLine(Buffer.from(rec("stdout", "F", "x", "2026-11-28T13:38:40.5+01:00")));
    assert.equal(e?.time.toISOString(), "2026-11-28T12:38:40.500Z");
    assert.equal(parseLogTime("2026-11-28T07:08:40Z")?.toISOString(), "2026-11-28T07:08:40.000Z");
    assert.equal(parseLogTime("2026-11-28T10:00:00.123456789-02:30")?.toISOString(), "2026-11-28T12:30:00.123Z");
  });

  it("rejects malformed records", () => {
    const bad = [
      "",
      "\n",
      "garbage",
      `${T0}`,
      `${T0} stdout`,
      `${T0} stdout `,
      `${T0} stdin F x`,
      `${T0} stdout X x`,
      `${T0} stdout FF x`,
      `${T0} stdout Fx`,
      `not-a-time stdout F x`,
      `2026-02-30T12:00:00Z stdout F x`,
      `2026-11-28T25:00:00Z stdout F x`,
      `2026-11-28T12:00:00 stdout F x`,
      `2026-11-28T12:00:00+24:00 stdout F x`,
      `${T0} stdout F two\nlines`,
      ` ${T0} stdout F x`,
    ];
    for (const line of bad) assert.equal(parseLogLine(Buffer.from(line)), undefined, JSON.stringify(line));
  });
});

describe("readLogEntries / queryLog", () => {
  let dir: string;
  let n = 0;
  const newPath = (): string => join(dir, `log-${++n}`, "ctr.log");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hull-logfile-"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeLog(path: string, content: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }

  it("reads every record, skips malformed ones, and leaves a record still being written", async () => {
    const path = newPath();
    await writeLog(path, rec("stdout", "F", "a") + "junk\n" + rec("stderr", "F", "b") + rec("stdout", "P", "c") + `${T0} stdout F unfinis`);
    const got = await collect(readLogEntries(path, { follow: false, signal: new AbortController().signal }));
    assert.deepEqual(
      got.map((e) => [e.stream, e.full, text(e)]),
      [
        ["stdout", true, "a"],
        ["stderr", true, "b"],
        ["stdout", false, "c"],
      ],
    );
  });

  it("returns nothing for a log that does not exist", async () => {
    const got = await collect(readLogEntries(join(dir, "none", "ctr.log"), { follow: false, signal: new AbortController().signal }));
    assert.deepEqual(got, []);
  });

  it("reads records longer than one read chunk", async () => {
    const path = newPath();
    const big = "x".repeat(200 * 1024);
    await writeLog(path, rec("stdout", "F", "before") + rec("stdout", "F", big) + rec("stdout", "F", "after"));
    const got = await collect(readLogEntries(path, { follow: false, signal: new AbortController().signal }));
    assert.deepEqual(got.map(text), ["before", big, "after"]);
  });

  it("tail counts a P run and its F as one line, per stream, after selection", async () => {
    const path = newPath();
    await writeLog(
      path,
      rec("stdout", "F", "1") +
        rec("stdout", "P", "2a") +
        rec("stderr", "F", "e1") +
        rec("stdout", "P", "2b") +
        rec("stdout", "F", "2c") +
        rec("stderr", "P", "e2a") +
        rec("stdout", "F", "3") +
        rec("stderr", "F", "e2b"),
    );
    const q = (tail: number, select?: (e: LogEntry) => boolean): Promise<string[]> =>
      collect(queryLog(path, { follow: false, signal: new AbortController().signal, tail, ...(select ? { select } : {}) })).then((es) => es.map(text));
    // Lines are ordered by their first record: "e2" began before "3".
    assert.deepEqual(await q(1), ["3"]);
    assert.deepEqual(await q(2), ["e2a", "3", "e2b"]);
    assert.deepEqual(await q(3), ["e1", "e2a", "3", "e2b"]);
    assert.deepEqual(await q(4), ["2a", "e1", "2b", "2c", "e2a", "3", "e2b"]);
    assert.deepEqual(await q(100), ["1", "2a", "e1", "2b", "2c", "e2a", "3", "e2b"]);
    assert.deepEqual(await q(0), []);
    const stdout = (e: LogEntry): boolean => e.stream === "stdout";
    assert.deepEqual(await q(2, stdout), ["2a", "2b", "2c", "3"]);
    assert.deepEqual(await q(1, (e) => e.stream === "stderr"), ["e2a", "e2b"]);
  });

  it("follows appends, a record split across writes, and a rotation, losing and repeating nothing", async () => {
    const path = newPath();
    await writeLog(path, rec("stdout", "F", "1") + rec("stdout", "F", "2"));
    const abort = new AbortController();
    let finish: (v: boolean) => void = () => undefined;
    const done = new Promise<boolean>((r) => (finish = r));
    const it = readLogEntries(path, { follow: true, signal: abort.signal, untilDone: () => done })[Symbol.asyncIterator]();
    try {
      assert.deepEqual(await take(it, 2), ["1", "2"]);
      // A record arriving in two writes is read once it is whole.
      const half = rec("stdout", "F", "3");
      const pending = take(it, 1);
      await appendFile(path, half.slice(0, 20));
      await appendFile(path, half.slice(20));
      assert.deepEqual(await pending, ["3"]);
      // While the reader is not reading: more lines reach the old file, then
      // conmon's rotation (PATH.tmp renamed over PATH), then lines in the new one.
      await appendFile(path, rec("stdout", "F", "4") + rec("stdout", "F", "5"));
      await writeFile(`${path}.tmp`, rec("stdout", "F", "6"));
      await rename(`${path}.tmp`, path);
      await appendFile(path, rec("stdout", "F", "7"));
      assert.deepEqual(await take(it, 4), ["4", "5", "6", "7"]);
      // A second rotation while the reader waits for new lines.
      const next = take(it, 2);
      await appendFile(path, rec("stdout", "F", "8"));
      await writeFile(`${path}.tmp`, rec("stdout", "F", "9"));
      await rename(`${path}.tmp`, path);
      assert.deepEqual(await next, ["8", "9"]);
      // The last line lands right before the container counts as done: still read.
      await appendFile(path, rec("stderr", "F", "last"));
      finish(true);
      assert.deepEqual(await take(it, 1), ["last"]);
      const end = await it.next();
      assert.equal(end.done, true, "the follow ends once the container is done and the file is read");
    } finally {
      abort.abort();
      await it.return?.(undefined);
    }
  });

  it("follows hulld's rotations, however many come between two reads, reading each generation once", async () => {
    const path = newPath();
    const lines = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => rec("stdout", "F", String(from + i))).join("");
    await writeLog(path, lines(1, 3));
    let finish: (v: boolean) => void = () => undefined;
    const done = new Promise<boolean>((r) => (finish = r));
    const it = readLogEntries(path, { follow: true, signal: new AbortController().signal, untilDone: () => done })[Symbol.asyncIterator]();
    try {
      assert.deepEqual(await take(it, 3), ["1", "2", "3"]);
      // While the reader is not reading, three rotations with one file kept:
      // the first two generations are deleted before the reader gets to them.
      for (let gen = 0; gen < 3; gen++) {
        assert.equal(rotateLogFile(path, 1), true);
        // The writer's fd still points at the renamed file until it reopens.
        await appendFile(`${path}.1`, lines(4 + gen * 10, 8 + gen * 10));
        await writeFile(path, lines(9 + gen * 10, 13 + gen * 10));
      }
      assert.equal(rotateLogFile(`${path}.absent`, 1), false, "no file: nothing to rotate");
      await appendFile(path, rec("stdout", "F", "last"));
      finish(true);
      const rest: string[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(text(r.value));
      const want = [...Array.from({ length: 30 }, (_, i) => String(4 + i)), "last"];
      assert.deepEqual(rest, want);
    } finally {
      await it.return?.(undefined);
    }
    // A plain read covers the rotated file still on disk, then the live one; tail spans both.
    const all = (await collect(queryLog(path, { follow: false, signal: new AbortController().signal }))).map(text);
    assert.deepEqual(all, [...Array.from({ length: 15 }, (_, i) => String(19 + i)), "last"]);
    const tail = (await collect(queryLog(path, { follow: false, signal: new AbortController().signal, tail: 3 }))).map(text);
    assert.deepEqual(tail, ["32", "33", "last"]);
  });

  it("keeps log_max_files rotated files, newest as PATH.1", async () => {
    const path = newPath();
    for (let gen = 1; gen <= 4; gen++) {
      await writeLog(path, rec("stdout", "F", `gen${gen}`));
      assert.equal(rotateLogFile(path, 2), true);
    }
    await writeLog(path, rec("stdout", "F", "live"));
    const all = (await collect(queryLog(path, { follow: false, signal: new AbortController().signal }))).map(text);
    assert.deepEqual(all, ["gen3", "gen4", "live"]);
  });

  it("a follower that falls more than 64 rotations behind ends with LOG_ROTATED at the gap", async () => {
    const path = newPath();
    await writeLog(path, rec("stdout", "F", "0"));
    const it = readLogEntries(path, { follow: true, signal: new AbortController().signal, untilDone: () => new Promise(() => undefined) })[
      Symbol.asyncIterator
    ]();
    try {
      assert.deepEqual(await take(it, 1), ["0"]);
      for (let gen = 1; gen <= 70; gen++) {
        assert.equal(rotateLogFile(path, 1), true);
        await writeFile(path, rec("stdout", "F", String(gen)));
      }
      const got: string[] = [];
      await assert.rejects(
        async () => {
          for (let r = await it.next(); !r.done; r = await it.next()) got.push(text(r.value));
        },
        (err: HullError) => err.reason === "RESOURCE_EXHAUSTED" && err.metadata.reason === "LOG_ROTATED" && /rotated more than 64 times/.test(err.message),
      );
      // Every generation it held, in order, and nothing after the gap.
      assert.deepEqual(
        got,
        Array.from({ length: 64 }, (_, i) => String(i + 1)),
      );
    } finally {
      await it.return?.(undefined);
    }
  });

  it("follows with an untilDone that answers at once, and ends after the last line", async () => {
    const path = newPath();
    await writeLog(path, rec("stdout", "F", "a"));
    let exited = false;
    let asked = 0;
    const it = readLogEntries(path, {
      follow: true,
      signal: new AbortController().signal,
      untilDone: async () => {
        asked++;
        return exited;
      },
    })[Symbol.asyncIterator]();
    assert.deepEqual(await take(it, 1), ["a"]);
    const pending = take(it, 1);
    await appendFile(path, rec("stdout", "F", "b"));
    assert.deepEqual(await pending, ["b"]);
    await appendFile(path, rec("stdout", "F", "c"));
    exited = true;
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(text(r.value));
    assert.deepEqual(rest, ["c"]);
    // "Not yet" answers are re-asked only on file events or the poll tick: a handful, not a spin.
    assert.ok(asked < 50, `untilDone was asked ${asked} times`);
  });

  it("waits for a log that does not exist yet, and ends on abort", async () => {
    const path = newPath();
    await mkdir(dirname(path), { recursive: true });
    const abort = new AbortController();
    const it = readLogEntries(path, { follow: true, signal: abort.signal })[Symbol.asyncIterator]();
    const first = take(it, 1);
    await writeFile(path, rec("stdout", "F", "hello"));
    assert.deepEqual(await first, ["hello"]);
    const ended = it.next();
    abort.abort();
    assert.equal((await ended).done, true);
  });

  it("a follow with tail gives the last lines, then new ones", async () => {
    const path = newPath();
    await writeLog(path, ["1", "2", "3", "4"].map((x) => rec("stdout", "F", x)).join(""));
    let finish: (v: boolean) => void = () => undefined;
    const done = new Promise<boolean>((r) => (finish = r));
    const it = queryLog(path, { follow: true, tail: 2, signal: new AbortController().signal, untilDone: () => done })[Symbol.asyncIterator]();
    assert.deepEqual(await take(it, 2), ["3", "4"]);
    await appendFile(path, rec("stdout", "F", "5"));
    assert.deepEqual(await take(it, 1), ["5"]);
    finish(true);
    assert.equal((await it.next()).done, true);
  });

  it("passes an untilDone failure to the reader", async () => {
    const path = newPath();
    await writeLog(path, rec("stdout", "F", "1"));
    const it = readLogEntries(path, { follow: true, signal: new AbortController().signal, untilDone: () => Promise.reject(new Error("boom")) });
    await assert.rejects(collect(it), /boom/);
  });
});
