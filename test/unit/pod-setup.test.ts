// RunPodSandbox's pure decisions on its critical path: the one script run
// inside the pinned namespaces, and which pods' infra container must wait
// for the CNI ADD.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setupScript } from "../../src/network/netns.js";
import { infraWaitsForNetwork } from "../../src/ops/pods/run.js";
import { PodSandboxConfig } from "../../src/gen/runtime/v1/api.js";

describe("pod namespace setup script", () => {
  it("names the UTS namespace through /proc and execs ip for the loopback: no other process", () => {
    assert.equal(setupScript(["net", "uts", "ipc"], "web-1"), "printf %s web-1 > /proc/sys/kernel/hostname && exec ip link set lo up");
  });
  it("does only what the pinned kinds call for", () => {
    assert.equal(setupScript(["ipc"], "web-1"), "true");
    assert.equal(setupScript(["uts"], "web-1"), "printf %s web-1 > /proc/sys/kernel/hostname");
    assert.equal(setupScript(["net"], "web-1"), "exec ip link set lo up");
  });
  it("has no single quote, so pinWithUserNamespace can single-quote it for nsenter", () => {
    assert.doesNotMatch(setupScript(["net", "uts"], "a.b-c"), /'/);
  });
});

describe("infra container beside the CNI ADD", () => {
  it("starts beside it unless a pod sysctl is in net.* (it may name eth0, which ADD makes)", () => {
    assert.equal(infraWaitsForNetwork(PodSandboxConfig.fromPartial({})), false);
    assert.equal(infraWaitsForNetwork(PodSandboxConfig.fromPartial({ linux: { sysctls: { "kernel.shm_rmid_forced": "1" } } })), false);
    assert.equal(infraWaitsForNetwork(PodSandboxConfig.fromPartial({ linux: { sysctls: { "net.ipv4.conf.eth0.forwarding": "1" } } })), true);
  });
});
