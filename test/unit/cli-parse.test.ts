// The CLI's pure parts: option parsing and ps formatting. No daemon needed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Container, ContainerState } from "../../src/gen/hull/v1/container.js";
import {
  UsageError,
  parseBytes,
  parseEnv,
  parseFilters,
  parseKeyValues,
  parseRestart,
  parseState,
  parseVolume,
  splitCreateOperands,
} from "../../src/cli/parse.js";
import { commandText, humanDuration, psTable, statusText } from "../../src/cli/format.js";

const S = ContainerState;

describe("cli parse", () => {
  it("parses sizes with binary units", () => {
    assert.equal(parseBytes("--memory", "64m"), 64 * 1024 * 1024);
    assert.equal(parseBytes("--memory", "1g"), 1024 ** 3);
    assert.equal(parseBytes("--memory", "512K"), 512 * 1024);
    assert.equal(parseBytes("--memory", "1048576"), 1048576);
    assert.equal(parseBytes("--memory", "64MiB"), 64 * 1024 * 1024);
    assert.throws(() => parseBytes("--memory", "lots"), UsageError);
  });

  it("parses restart policies", () => {
    assert.deepEqual(parseRestart("always"), { name: "always", maxRetries: 0 });
    assert.deepEqual(parseRestart("on-failure:5"), { name: "on-failure", maxRetries: 5 });
    assert.throws(() => parseRestart("always:3"), UsageError);
    assert.throws(() => parseRestart("sometimes"), UsageError);
  });

  it("parses volumes, resolving relative sources against the cwd", () => {
    assert.deepEqual(parseVolume("/a:/b:ro"), { type: "bind", source: "/a", destination: "/b", options: ["ro"] });
    assert.deepEqual(parseVolume("./d:/b", "/home/x"), { type: "bind", source: "/home/x/d", destination: "/b", options: [] });
    assert.throws(() => parseVolume("named:/b"), /named volume/);
    assert.throws(() => parseVolume("/only"), UsageError);
  });

  it("parses env, labels and annotations", () => {
    assert.deepEqual(parseEnv(["A=1", "FROM_HOST", "UNSET"], { FROM_HOST: "h" }), ["A=1", "FROM_HOST=h"]);
    assert.throws(() => parseEnv(["=x"]), UsageError);
    assert.deepEqual(parseKeyValues("--label", ["a=1", "b", "c=x=y"], true), { a: "1", b: "", c: "x=y" });
    assert.throws(() => parseKeyValues("--annotation", ["b"], false), UsageError);
  });

  it("parses states and ps filters", () => {
    assert.equal(parseState("--condition", "running"), S.CONTAINER_STATE_RUNNING);
    assert.equal(parseState("--condition", "CONTAINER_STATE_EXITED"), S.CONTAINER_STATE_EXITED);
    assert.throws(() => parseState("--condition", "unspecified"), UsageError);
    assert.deepEqual(parseFilters(["state=exited", "status=running", "label=a=b", "label=c", "name=web", "id=abc"]), {
      states: [S.CONTAINER_STATE_EXITED, S.CONTAINER_STATE_RUNNING],
      labels: { a: "b", c: "" },
      name: "web",
      idPrefix: "abc",
    });
    assert.throws(() => parseFilters(["color=red"]), UsageError);
  });

  it("splits create's operands into IMAGE and command", () => {
    // `hull create --rootfs R -- sh -c x`: commander swallowed the leading "--".
    assert.deepEqual(splitCreateOperands(["sh", "-c", "x"], ["--rootfs", "R", "--", "sh", "-c", "x"], true), { image: "", command: ["sh", "-c", "x"] });
    // `hull create img -- sh`: the "--" after an operand survives.
    assert.deepEqual(splitCreateOperands(["img", "--", "sh"], ["img", "--", "sh"], false), { image: "img", command: ["sh"] });
    // `hull create img sh -c x`: podman's form without "--".
    assert.deepEqual(splitCreateOperands(["img", "sh", "-c", "x"], ["img", "sh", "-c", "x"], false), { image: "img", command: ["sh", "-c", "x"] });
    // The command may itself contain "--".
    assert.deepEqual(splitCreateOperands(["sh", "--", "x"], ["--rootfs", "R", "--", "sh", "--", "x"], true), { image: "", command: ["sh", "--", "x"] });
    assert.throws(() => splitCreateOperands(["a", "b", "--", "sh"], ["a", "b", "--", "sh"], false), UsageError);
  });
});

describe("cli format", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const at = (secondsAgo: number): Date => new Date(now - secondsAgo * 1000);
  const container = (state: ContainerState, extra: Partial<Container> = {}): Container =>
    Container.fromPartial({ id: "a".repeat(64), name: "web", state, config: { command: ["sh", "-c", "exit 7"] }, createdAt: at(5), ...extra });

  it("words durations like podman (go-units)", () => {
    assert.equal(humanDuration(300), "Less than a second");
    assert.equal(humanDuration(1000), "1 second");
    assert.equal(humanDuration(5000), "5 seconds");
    assert.equal(humanDuration(90_000), "About a minute");
    assert.equal(humanDuration(3 * 3600_000), "3 hours");
  });

  it("words statuses like podman", () => {
    assert.equal(statusText(container(S.CONTAINER_STATE_CONFIGURED), now), "Created");
    assert.equal(statusText(container(S.CONTAINER_STATE_RUNNING, { startedAt: at(3) }), now), "Up 3 seconds");
    assert.equal(statusText(container(S.CONTAINER_STATE_EXITED, { exitCode: 7, finishedAt: at(2) }), now), "Exited (7) 2 seconds ago");
    assert.equal(statusText(container(S.CONTAINER_STATE_PAUSED), now), "Paused");
    assert.equal(statusText(container(S.CONTAINER_STATE_STOPPING), now), "Stopping");
  });

  it("prints a borderless table with 12-character ids", () => {
    const lines = psTable([container(S.CONTAINER_STATE_EXITED, { exitCode: 7, finishedAt: at(2), restartCount: 1 })], { noTrunc: false, now }).split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? "", /^CONTAINER ID\s+NAME\s+COMMAND\s+CREATED\s+STATUS\s+RESTARTS$/);
    assert.match(lines[1] ?? "", /^a{12}\s+web\s+sh -c 'exit 7'\s+5 seconds ago\s+Exited \(7\) 2 seconds ago\s+1$/);
    assert.equal(commandText(["echo", "it's"]), `echo 'it'\\''s'`);
  });
});
