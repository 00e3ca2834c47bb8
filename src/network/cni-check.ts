// What a CNI CHECK of a cached attachment calls for, decided purely from
// the network list ADD ran (the CNI spec's CHECK, as libcni's
// CheckNetworkList runs it): nothing when the list sets disableCheck (the
// spec's way for an administrator to silence plugins known to fail CHECK
// spuriously: a success), a refusal when the list's cniVersion predates
// 0.4.0 (the version CHECK came with: older plugins do not know the
// command), otherwise every plugin in list order with the ADD result as
// prevResult. Plus the words for a failure hull knows to be false.

/** The spec version that introduced CHECK. */
export const CHECK_MIN_VERSION = "0.4.0";

export type CheckDecision = { kind: "run" } | { kind: "skip"; reason: string } | { kind: "unsupported"; reason: string };

/** a >= b for "major.minor.patch" versions (a missing part is 0; a pre-release tag is ignored). */
export function versionAtLeast(a: string, b: string): boolean {
  const parts = (v: string): number[] => (v.split("-")[0] ?? "").split(".").map((n) => Number.parseInt(n, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** list: the parts of cni.ts's NetworkList that decide (not imported: cni.ts imports this file). */
export function checkDecision(list: { name: string; cniVersion: string; disableCheck?: boolean }): CheckDecision {
  if (list.disableCheck) return { kind: "skip", reason: `network ${list.name} sets disableCheck` };
  if (!versionAtLeast(list.cniVersion, CHECK_MIN_VERSION))
    return { kind: "unsupported", reason: `network ${list.name} is CNI ${list.cniVersion}: CHECK came with CNI ${CHECK_MIN_VERSION}` };
  return { kind: "run" };
}

/**
 * Why a plugin's CHECK error is known to be false, or "": portmap (1.1.1,
 * as Debian ships it) checks its ip6tables chain even for a pod with no
 * IPv6 address, for which ADD made none (containernetworking/plugins#819).
 * Said next to the error, never instead of it: the check still failed.
 */
export function knownFalseFailure(plugin: string, message: string): string {
  if (plugin === "portmap" && message.includes("could not check ipv6 dnat"))
    return "portmap's known false failure for a pod without an IPv6 address (containernetworking/plugins#819); disableCheck: true on the network list turns CHECK off";
  return "";
}
