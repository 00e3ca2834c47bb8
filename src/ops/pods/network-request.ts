// What the pod network (CNI) is told about a pod: the same for ADD and DEL,
// so a DEL after a restart of hulld frees exactly what the ADD took.
import { PodSandboxConfig, Protocol } from "../../gen/runtime/v1/api.js";
import type { PodRecord } from "../../store/record.js";
import type { PodNetworkRequest, PortMappingSpec } from "../../network/pod-env.js";

function protocolOf(p: Protocol): PortMappingSpec["protocol"] {
  return p === Protocol.UDP ? "udp" : p === Protocol.SCTP ? "sctp" : "tcp";
}

export function portMappingsOf(config: PodSandboxConfig): PortMappingSpec[] {
  return config.portMappings
    .filter((p) => p.hostPort > 0)
    .map((p) => ({ protocol: protocolOf(p.protocol), containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIp }));
}

export function networkRequest(pod: PodRecord): PodNetworkRequest {
  const config = PodSandboxConfig.fromJSON(pod.config);
  return {
    podId: pod.id,
    netnsPath: pod.namespaces.net ?? "",
    podName: pod.name,
    podNamespace: pod.namespace,
    podUid: pod.uid,
    portMappings: portMappingsOf(config),
  };
}
