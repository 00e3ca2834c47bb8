// `hull events`' pure parts: podman's time input rules, filters, and the line format.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Event } from "../../src/gen/hull/v1/container.js";
import { parseGoDuration, parseInputTime } from "../../src/cli/time-input.js";
import { eventLine, formatEventTime, parseEventFilters } from "../../src/cli/events-cmd.js";
import { UsageError } from "../../src/cli/parse.js";

const NOW = Date.parse("2026-11-28T13:03:05.443Z");
const iso = (flag: string, v: string, since = true): string => parseInputTime(flag, v, since, NOW).toISOString();

test("dates: RFC3339 (with nanoseconds), zone-less layouts read as UTC, date-only forms", () => {
  assert.equal(iso("--since", "2024-05-01T12:00:00Z"), "2024-05-01T12:00:00.000Z");
  assert.equal(iso("--since", "2024-05-01T12:00:00+02:00"), "2024-05-01T10:00:00.000Z");
  assert.equal(iso("--since", "2024-05-01T12:00:00-01:30"), "2024-05-01T13:30:00.000Z");
  assert.equal(iso("--since", "2024-05-01T12:00:00.123456789Z"), "2024-05-01T12:00:00.123Z");
  assert.equal(iso("--since", "2024-05-01T12:00:00"), "2024-05-01T12:00:00.000Z");
  assert.equal(iso("--since", "2024-05-01T12:00:00.5"), "2024-05-01T12:00:00.500Z");
  assert.equal(iso("--since", "2024-05-01"), "2024-05-01T00:00:00.000Z");
  assert.equal(iso("--since", "2024-05-01Z"), "2024-05-01T00:00:00.000Z");
  assert.equal(iso("--since", "2024-05-01+02:00"), "2024-04-30T22:00:00.000Z");
  assert.equal(iso("--since", "2024-02-29"), "2024-02-29T00:00:00.000Z");
  assert.equal(iso("--since", "0050-01-01"), "0050-01-01T00:00:00.000Z");
  // A date is the same for --since and --until.
  assert.equal(iso("--until", "2024-05-01T12:00:00Z", false), "2024-05-01T12:00:00.000Z");
});

test("unix timestamps, with fractions", () => {
  assert.equal(iso("--since", "1700000000"), "2023-11-14T22:13:20.000Z");
  assert.equal(iso("--since", "1700000000.25"), "2023-11-14T22:13:20.250Z");
  assert.equal(iso("--since", "0"), "1970-01-01T00:00:00.000Z");
});

test("durations: back from now for --since, forward for --until (podman)", () => {
  assert.equal(parseInputTime("--since", "10m", true, NOW).getTime(), NOW - 600_000);
  assert.equal(parseInputTime("--until", "10m", false, NOW).getTime(), NOW + 600_000);
  assert.equal(parseInputTime("--since", "1h30m", true, NOW).getTime(), NOW - 5_400_000);
  assert.equal(parseInputTime("--since", "1.5h", true, NOW).getTime(), NOW - 5_400_000);
  assert.equal(parseInputTime("--since", "-5s", true, NOW).getTime(), NOW + 5000);
  assert.equal(parseInputTime("--since", "250ms", true, NOW).getTime(), NOW - 250);
});

test("Go's ParseDuration grammar", () => {
  assert.equal(parseGoDuration("0"), 0);
  assert.equal(parseGoDuration("300ms"), 300);
  assert.equal(parseGoDuration("2h45m"), 9_900_000);
  assert.equal(parseGoDuration(".5s"), 500);
  assert.equal(parseGoDuration("1.s"), 1000);
  assert.equal(parseGoDuration("1500us"), 1.5);
  assert.equal(parseGoDuration("1500\u00b5s"), 1.5);
  assert.equal(parseGoDuration("+1m"), 60_000);
  for (const bad of ["", "10", "1d", "h", ".s", "10 m", "1h30", "m10", "-", "1e3s"]) {
    assert.equal(parseGoDuration(bad), undefined, `"${bad}" is not a Go duration`);
  }
});

test("anything else is a usage error naming the flag", () => {
  for (const bad of ["", "yesterday", "1d", "2024-13-01", "2024-02-30", "2024-05-01T25:00:00Z", "2024-05-01 12:00:00", "10 minutes"]) {
    assert.throws(
      () => parseInputTime("--since", bad, true, NOW),
      (err: unknown) => err instanceof UsageError && err.message.startsWith("--since:"),
      bad,
    );
  }
});

test("filters: container=, event=, type= (type=container is every event)", () => {
  assert.deepEqual(parseEventFilters(["container=web", "type=start", "event=exit", "type=container", "container=abc"]), {
    containers: ["web", "abc"],
    types: ["start", "exit"],
  });
  assert.deepEqual(parseEventFilters([]), { containers: [], types: [] });
  for (const bad of ["container", "container=", "label=a=b", "=x"]) {
    assert.throws(() => parseEventFilters([bad]), UsageError, bad);
  }
});

test("event lines: Go's time format in UTC, short id, name then sorted attributes", () => {
  assert.equal(formatEventTime(new Date(NOW)), "2026-11-28 13:03:05.443 +0000 UTC");
  assert.equal(formatEventTime(new Date("2026-11-28T13:03:05.400Z")), "2026-11-28 13:03:05.4 +0000 UTC");
  assert.equal(formatEventTime(new Date("2026-01-02T03:04:05Z")), "2026-01-02 03:04:05 +0000 UTC");
  const ev = Event.fromPartial({
    time: new Date(NOW),
    type: "exit",
    containerId: "0123456789ab".padEnd(64, "f"),
    containerName: "foo",
    attributes: { signal: "9", exitCode: "137" },
  });
  assert.equal(eventLine(ev), "2026-11-28 13:03:05.443 +0000 UTC container exit 0123456789ab (name=foo, exitCode=137, signal=9)");
  assert.ok(eventLine(ev, true).includes(` ${ev.containerId} (`));
});
