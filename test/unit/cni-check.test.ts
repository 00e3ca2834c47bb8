// CNI CHECK (network/cni-check.ts, CniNetwork.check, ops/pods/network-check.ts):
// when it runs, what each plugin is given, and what a failure says. The
// plugins are shell scripts that log their command and stdin, so no root.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDecision, knownFalseFailure, versionAtLeast } from "../../src/network/cni-check.js";
import { CniNetwork, parseNetworkConfig } from "../../src/network/cni.js";
import { CHECK_REUSE_MS, networkCheckSkip, networkCheckText, reusable } from "../../src/ops/pods/network-check.js";
import { HullError } from "../../src/errors.js";
import type { PodNetworkRequest } from "../../src/network/pod-env.js";

describe("CNI CHECK decisions", () => {
  it("compares spec versions numerically", () => {
    assert.ok(versionAtLeast("0.4.0", "0.4.0"));
    assert.ok(versionAtLeast("1.0.0", "0.4.0"));
    assert.ok(versionAtLeast("0.10.0", "0.4.0"));
    assert.ok(versionAtLeast("1.1", "0.4.0"));
    assert.ok(!versionAtLeast("0.3.1", "0.4.0"));
    assert.ok(!versionAtLeast("0.2.0", "0.4.0"));
  });

  it("runs for 0.4.0 and later, refuses older lists, skips on disableCheck", () => {
    assert.deepEqual(checkDecision({ name: "n", cniVersion: "1.0.0" }), { kind: "run" });
    assert.deepEqual(checkDecision({ name: "n", cniVersion: "0.4.0", disableCheck: false }), { kind: "run" });
    const old = checkDecision({ name: "n", cniVersion: "0.3.1" });
    assert.equal(old.kind, "unsupported");
    assert.match(old.kind === "unsupported" ? old.reason : "", /network n is CNI 0\.3\.1: CHECK came with CNI 0\.4\.0/);
    // disableCheck wins even over an old version: the runtime must not CHECK at all.
    assert.equal(checkDecision({ name: "n", cniVersion: "0.3.1", disableCheck: true }).kind, "skip");
  });

  it("reads disableCheck from a conflist, as a boolean or the spec's string", () => {
    const list = (extra: object) =>
      parseNetworkConfig("a.conflist", JSON.stringify({ name: "n", cniVersion: "1.0.0", plugins: [{ type: "bridge" }], ...extra }));
    for (const [extra, want] of [
      [{}, false],
      [{ disableCheck: true }, true],
      [{ disableCheck: "true" }, true],
      [{ disableCheck: "false" }, false],
    ] as const) {
      const l = list(extra);
      assert.equal(typeof l === "string" ? l : l.disableCheck, want, JSON.stringify(extra));
    }
  });

  it("names portmap's IPv6 false failure (plugins#819), and nothing else", () => {
    assert.match(knownFalseFailure("portmap", "could not check ipv6 dnat: chain CNI-DN-x not found in iptables table nat"), /plugins#819/);
    assert.equal(knownFalseFailure("portmap", "could not check ipv4 dnat: chain CNI-DN-x not found"), "");
    assert.equal(knownFalseFailure("bridge", "could not check ipv6 dnat"), "");
  });

  it("reuses an outcome that is not a failure for CHECK_REUSE_MS, never a failure nor one from the future", () => {
    const at = 1_000_000;
    assert.equal(reusable({ status: "ok", at, by: "ADD" }, at + CHECK_REUSE_MS - 1, CHECK_REUSE_MS), true);
    assert.equal(reusable({ status: "ok", at, by: "CHECK" }, at + CHECK_REUSE_MS, CHECK_REUSE_MS), false);
    assert.equal(reusable({ status: "skipped", reason: "disableCheck", at, by: "CHECK" }, at + 1, CHECK_REUSE_MS), true);
    assert.equal(reusable({ status: "failed", reason: "plugin bridge failed", at, by: "CHECK" }, at + 1, CHECK_REUSE_MS), false);
    assert.equal(reusable({ status: "ok", at, by: "CHECK" }, at - 1, CHECK_REUSE_MS), false, "the clock went back");
    assert.equal(reusable({ status: "ok", at, by: "CHECK" }, at + 1, 0), false, "max age 0: always CHECK");
    assert.equal(reusable(undefined, at, CHECK_REUSE_MS), false);
  });

  it("skips host-network and not-ready pods, and words outcomes for inspectp", () => {
    assert.match(networkCheckSkip({ hostNetwork: true, state: "ready" }) ?? "", /host's network/);
    assert.match(networkCheckSkip({ hostNetwork: false, state: "notready" }) ?? "", /not ready/);
    assert.equal(networkCheckSkip({ hostNetwork: false, state: "ready" }), undefined);
    assert.equal(networkCheckText({ status: "ok" }), "ok");
    assert.equal(networkCheckText({ status: "failed", reason: "plugin bridge failed" }), "failed: plugin bridge failed");
  });
});

describe("CniNetwork.check over fake plugins", () => {
  let dir = "";
  const req: PodNetworkRequest = { podId: "a".repeat(64), netnsPath: "/proc/self/ns/net", podName: "p", podNamespace: "ns", podUid: "u", portMappings: [] };
  // Logs "<command> <type>" and its stdin (hull passes plugins only the CNI_* environment, so the log's path is baked in); ADD prints a result; CHECK of "bad" fails as plugins do.
  const plugin = (logFile: string): string => `#!/bin/sh
LOG=${logFile}
input=$(cat)
echo "$CNI_COMMAND $(basename "$0")" >> "$LOG"
printf '%s\\n' "$input" >> "$LOG.stdin"
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24","interface":0}],"interfaces":[{"name":"eth0"}]}' ;;
CHECK) [ "$(basename "$0")" = bad ] && { echo '{"code":999,"msg":"Failed to match addr 10.9.0.2/24 on interface eth0"}'; exit 1; } ;;
esac
exit 0
`;
  const net = (name: string): CniNetwork =>
    new CniNetwork({ configDir: join(dir, name, "net.d"), pluginDirs: [join(dir, "bin")], cacheDir: join(dir, name, "results") });
  const config = async (name: string, doc: object): Promise<void> => {
    await mkdir(join(dir, name, "net.d"), { recursive: true });
    await writeFile(join(dir, name, "net.d", "10.conflist"), JSON.stringify({ name, ...doc }));
  };
  const log = async (): Promise<string[]> => (await readFile(join(dir, "log"), "utf8").catch(() => "")).split("\n").filter((l) => l !== "");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hull-cni-check-"));
    await mkdir(join(dir, "bin"));
    for (const name of ["first", "second", "bad"]) {
      await writeFile(join(dir, "bin", name), plugin(join(dir, "log")));
      await chmod(join(dir, "bin", name), 0o755);
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs every plugin in list order with the cached ADD result as prevResult", async () => {
    await config("ok", { cniVersion: "1.0.0", plugins: [{ type: "first" }, { type: "second" }] });
    const n = net("ok");
    await n.setUp(req);
    await rm(join(dir, "log"), { force: true });
    await rm(join(dir, "log.stdin"), { force: true });
    assert.deepEqual(await n.check(req), { outcome: "ok" });
    assert.deepEqual(await log(), ["CHECK first", "CHECK second"]);
    const inputs = (await readFile(join(dir, "log.stdin"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const input of inputs) assert.deepEqual((input.prevResult as { ips: unknown[] }).ips, [{ address: "10.9.0.2/24", interface: 0 }]);
  });

  it("fails naming the plugin, the network and the pod, with the plugin's msg", async () => {
    await config("broken", { cniVersion: "1.0.0", plugins: [{ type: "first" }, { type: "bad" }, { type: "second" }] });
    const n = net("broken");
    await n.setUp(req);
    await rm(join(dir, "log"), { force: true });
    await assert.rejects(n.check(req), (e: unknown) => {
      assert.ok(e instanceof HullError);
      assert.match(
        e.message,
        /CNI CHECK of pod ns\/p \(aaaaaaaaaaaa\) on network broken: plugin bad failed: Failed to match addr 10\.9\.0\.2\/24 on interface eth0 \(code 999\)/,
      );
      assert.equal(e.metadata.plugin, "bad");
      return true;
    });
    assert.deepEqual(await log(), ["CHECK first", "CHECK bad"], "the list stops at the first failure");
  });

  it("runs nothing for disableCheck (in the cached list or today's config) and for CNI before 0.4.0", async () => {
    await config("off", { cniVersion: "1.0.0", disableCheck: true, plugins: [{ type: "bad" }] });
    await net("off").setUp(req);
    await config("old", { cniVersion: "0.3.1", plugins: [{ type: "bad" }] });
    await net("old").setUp(req);
    await config("later", { cniVersion: "1.0.0", plugins: [{ type: "bad" }] });
    await net("later").setUp(req);
    await config("later", { cniVersion: "1.0.0", disableCheck: true, plugins: [{ type: "bad" }] });
    await rm(join(dir, "log"), { force: true });
    assert.deepEqual(await net("off").check(req), { outcome: "skipped", reason: "network off sets disableCheck" });
    assert.deepEqual(await net("later").check(req), { outcome: "skipped", reason: "network later sets disableCheck" });
    await assert.rejects(
      net("old").check(req),
      (e: unknown) => e instanceof HullError && e.reason === "NOT_IMPLEMENTED" && /CHECK came with CNI 0\.4\.0/.test(e.message),
    );
    assert.deepEqual(await log(), []);
  });

  it("refuses a pod with no cached ADD result", async () => {
    await config("none", { cniVersion: "1.0.0", plugins: [{ type: "first" }] });
    await assert.rejects(net("none").check(req), /CNI CHECK of pod ns\/p \(aaaaaaaaaaaa\): no cached ADD result .*never attached/);
  });
});
