// Bulk reads of a k8s-file log (LogQuery.records: an attach or ContainerLogs
// fed from the file): records are walked in place in one reused buffer, the
// unfinished one moved to its front before each read. Checked against the
// entry reader on the same files, across read boundaries and while following.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryLogBatches, readLogEntries } from "../../src/oci/logfile.js";
import { LogScanner, STDOUT } from "../../src/oci/logline.js";

const T0 = "2026-11-28T12:38:40.903049073+00:00";

function rec(stream: "stdout" | "stderr", tag: "F" | "P", msg: string): string {
  return `${T0} ${stream} ${tag} ${msg}\n`;
}

/** Deterministic varied records: lengths 0..2000, a few far longer than one read. */
function records(n: number): string {
  let out = "";
  let seed = 7;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const len = i % 97 === 0 ? 300 * 1024 + i : seed % 2000;
    const body = `${i}:`.padEnd(len, String.fromCharCode(97 + (i % 26)));
    out += rec(i % 3 === 0 ? "stderr" : "stdout", i % 5 === 0 ? "P" : "F", body);
  }
  return out;
}

type Rec = [string, boolean, string];

/** Every record through the raw visitor, each message copied out while visited (as RawRecords requires). */
async function rawRead(
  path: string,
  opts: { follow: boolean; signal: AbortSignal; untilDone?: () => Promise<boolean> },
  onRecord?: (r: Rec) => void,
): Promise<Rec[]> {
  const seen: Rec[] = [];
  const visit = (stream: number, full: boolean, data: Buffer, msgStart: number, msgEnd: number): void => {
    const r: Rec = [stream === STDOUT ? "stdout" : "stderr", full, data.toString("utf8", msgStart, msgEnd)];
    seen.push(r);
    onRecord?.(r);
  };
  for await (const batch of queryLogBatches(path, { ...opts, records: { scanner: new LogScanner(), visit } })) {
    assert.equal(batch.length, 0, "raw reads hand records to the visitor, not to batches");
  }
  return seen;
}

describe("bulk (raw) log reads", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hull-lograw-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("see what the entry reader sees, records straddling every read boundary and longer than a read", async () => {
    const path = join(dir, "a.log");
    await writeFile(path, records(1500));
    const entries = [];
    for await (const e of readLogEntries(path, { follow: false, signal: new AbortController().signal })) entries.push([e.stream, e.full, e.data.toString()]);
    const raw = await rawRead(path, { follow: false, signal: new AbortController().signal });
    assert.equal(raw.length, 1500);
    assert.deepEqual(raw, entries);
  });

  it("carry a record split across writes over the end of a read while following, and see it once", async () => {
    const path = join(dir, "b.log");
    await writeFile(path, rec("stdout", "F", "1"));
    let finish: (v: boolean) => void = () => undefined;
    const done = new Promise<boolean>((r) => (finish = r));
    let count = 0;
    let wake: () => void = () => undefined;
    const reading = rawRead(path, { follow: true, signal: new AbortController().signal, untilDone: () => done }, () => {
      count++;
      wake();
    });
    const until = (n: number): Promise<void> =>
      new Promise((resolve) => {
        wake = () => count >= n && resolve();
        wake();
      });
    await until(1);
    const long = rec("stderr", "F", "x".repeat(400 * 1024));
    // The first part ends mid-record: the follower reads it, finds no newline and waits with it held.
    await appendFile(path, long.slice(0, 1000));
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(path, long.slice(1000) + rec("stdout", "P", "3"));
    await until(3);
    finish(true);
    const seen = await reading;
    assert.deepEqual(
      seen.map(([s, f, m]) => [s, f, m.length]),
      [
        ["stdout", true, 1],
        ["stderr", true, 400 * 1024],
        ["stdout", false, 1],
      ],
    );
  });
});
