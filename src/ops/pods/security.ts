// A pod's own security context (LinuxSandboxSecurityContext) as the infra
// container's SecurityOptions: the pod-level fields only; the kubelet merges
// the pod's defaults into each container's context itself.
import type { LinuxSandboxSecurityContext } from "../../gen/runtime/v1/api.js";
import { SecurityProfile_ProfileType, SupplementalGroupsPolicy } from "../../gen/runtime/v1/api.js";
import { SecurityOptions } from "../../gen/hull/v1/container.js";

export function toPodSecurity(sc: LinuxSandboxSecurityContext | undefined): SecurityOptions {
  if (sc === undefined) return SecurityOptions.fromPartial({});
  const seccomp = sc.seccomp;
  const profile =
    seccomp === undefined || seccomp.profileType === SecurityProfile_ProfileType.RuntimeDefault
      ? ""
      : seccomp.profileType === SecurityProfile_ProfileType.Localhost
        ? seccomp.localhostRef
        : "unconfined";
  return SecurityOptions.fromPartial({
    privileged: sc.privileged,
    seccompProfile: sc.privileged ? "unconfined" : profile,
    supplementalGroups: sc.supplementalGroups.map((g) => Number(g)),
    strictSupplementalGroups: sc.supplementalGroupsPolicy === SupplementalGroupsPolicy.Strict,
  });
}
