// A ContainerConfig with every field at its empty value, for tests that build configs by hand.
import { ContainerConfig } from "../../src/gen/hull/v1/container.js";

export function containerConfig(over: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    ...ContainerConfig.fromPartial({}),
    name: "",
    image: "",
    rootfsPath: "",
    command: [],
    env: [],
    workingDir: "",
    user: "",
    hostname: "",
    tty: false,
    stdin: false,
    stopSignal: "",
    stopTimeoutSeconds: undefined,
    restartPolicy: undefined,
    dependsOn: [],
    labels: {},
    annotations: {},
    mounts: [],
    resources: undefined,
    logMaxSizeBytes: 0,
    networkMode: "",
    readOnlyRootfs: false,
    ...over,
  };
}
