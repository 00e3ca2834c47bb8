// What hulld does with each pod record at start (recovery/pods.ts): pure.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planPodRecovery } from "../../src/recovery/pods.js";

describe("pod recovery plan", () => {
  const ns = { net: "/run/hull/pods/a/net", ipc: "/run/hull/pods/a/ipc", uts: "/run/hull/pods/a/uts" };
  const all = { [ns.net]: true, [ns.ipc]: true, [ns.uts]: true };
  const pod = { hostNetwork: false };

  it("removes a pod whose setup a crash cut short", () => {
    assert.equal(planPodRecovery({ ...pod, state: "notready", stateReason: "being set up", namespaces: ns }, all), "remove");
    assert.equal(planPodRecovery({ ...pod, state: "notready", stateReason: "being set up", namespaces: {} }, {}), "remove");
  });

  it("stops a ready pod any of whose pinned namespaces is gone (a reboot emptied the run root)", () => {
    assert.equal(planPodRecovery({ ...pod, state: "ready", stateReason: "", namespaces: ns }, { ...all, [ns.ipc]: false }), "stop");
    assert.equal(planPodRecovery({ ...pod, state: "ready", stateReason: "", namespaces: ns }, {}), "stop");
  });

  it("keeps a ready pod on a CNI network with its pins, and CHECKs its attachment", () => {
    assert.equal(planPodRecovery({ ...pod, state: "ready", stateReason: "", namespaces: ns }, all), "check");
  });

  it("keeps host-network pods, and stopped pods, without a CHECK", () => {
    const hostNet = { hostNetwork: true, state: "ready", stateReason: "" } as const;
    assert.equal(planPodRecovery({ ...hostNet, namespaces: {} }, {}), "keep");
    assert.equal(planPodRecovery({ ...hostNet, namespaces: { ipc: ns.ipc, uts: ns.uts } }, all), "keep");
    assert.equal(planPodRecovery({ ...hostNet, namespaces: { ipc: ns.ipc } }, {}), "stop", "its lost pins still stop it");
    assert.equal(planPodRecovery({ ...pod, state: "notready", stateReason: "", namespaces: {} }, {}), "keep");
    assert.equal(planPodRecovery({ ...pod, state: "notready", stateReason: "its namespaces were lost while hulld was down", namespaces: {} }, {}), "keep");
  });
});
