// One validator per runtime.v1.RuntimeService request (pods and
// containers), run before any operation: metadata names as the kubelet
// forms them, ids as hex prefixes, paths absolute (log paths relative to
// their pod's directory), ports in range, maps and argv bounded.
import { NamespaceMode } from "../../gen/runtime/v1/api.js";
import type {
  ContainerConfig,
  IDMapping,
  NamespaceOption,
  CreateContainerRequest,
  ExecSyncRequest,
  ListContainersRequest,
  ListPodSandboxRequest,
  PodSandboxConfig,
  RunPodSandboxRequest,
  UpdateContainerResourcesRequest,
} from "../../gen/runtime/v1/api.js";
import { invalidArgument } from "../../errors.js";
import { rejectUndecodable } from "../wire.js";
import {
  MAX_EXEC_TIMEOUT_SECONDS,
  MAX_PATH_BYTES,
  checkAbsolutePath,
  checkArgv,
  checkCount,
  checkEnv,
  checkHostname,
  checkImageRef,
  checkIdPrefix,
  checkPathComponents,
  checkRange,
  checkStringMap,
  checkText,
  shown,
} from "../rules.js";
import { checkSysctls } from "../isolation-rules.js";

const MAX_METADATA_NAME = 253;
const MAX_PORT_MAPPINGS = 256;
const MAX_DNS_ENTRIES = 64;
const MAX_MOUNTS = 256;
const MAX_STOP_TIMEOUT = 24 * 3600;
const MAX_ID_TEXT = 256;
/** Kubernetes object names: DNS subdomain characters (the kubelet sends nothing else, but any client may). */
const METADATA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkMetadataName(field: string, name: string): void {
  if (name === "") throw invalidArgument(field, "is required");
  if (name.length > MAX_METADATA_NAME) throw invalidArgument(field, `${shown(name)} is longer than ${MAX_METADATA_NAME} characters`);
  if (!METADATA_NAME.test(name)) throw invalidArgument(field, `${shown(name)} must match ${METADATA_NAME.source}`);
}

/**
 * An id, required: any bounded text, since an id hull never issued is not a
 * malformed request but an unknown object (NOT_FOUND, or OK for the CRI's
 * idempotent stops and removes, whatever id the kubelet retries).
 */
export function checkRequiredId(field: string, id: string): void {
  if (id === "") throw invalidArgument(field, "is required");
  checkText(field, id, MAX_ID_TEXT);
}

/** The highest host id a mapping may reach (2^32-1 is the kernel's invalid id). */
const MAX_MAPPED_ID = 0xfffffffe;

function checkIdMappings(field: string, list: readonly IDMapping[]): void {
  // One range from container id 0, as containerd and CRI-O take it (the kubelet sends one per pod).
  if (list.length !== 1) throw invalidArgument(field, `${list.length} mappings given: a pod's user namespace takes exactly one, from container id 0`);
  const m = list[0];
  if (m === undefined) return;
  if (m.containerId !== 0) throw invalidArgument(`${field}[0].container_id`, `${m.containerId} given: container id 0 (root) must be mapped`);
  if (m.length < 1) throw invalidArgument(`${field}[0].length`, "must be at least 1");
  if (m.hostId + m.length - 1 > MAX_MAPPED_ID)
    throw invalidArgument(`${field}[0].length`, `host ids ${m.hostId}..${m.hostId + m.length - 1} go past ${MAX_MAPPED_ID}`);
}

/**
 * namespace_options.userns_options: POD (a user namespace of the pod's own,
 * with its mappings) or NODE (the host's); CONTAINER and TARGET have no
 * meaning for user namespaces. As the kubelet requires, a pod with its own
 * user namespace shares none of the host's network, PID or IPC namespaces.
 */
export function checkUsernsOptions(field: string, ns: NamespaceOption | undefined): void {
  const u = ns?.usernsOptions;
  if (ns === undefined || u === undefined) return;
  const f = `${field}.userns_options`;
  if (u.mode === NamespaceMode.NODE) {
    if (u.uids.length > 0 || u.gids.length > 0) throw invalidArgument(`${f}.uids`, "mode NODE is the host's user namespace: it takes no mappings");
    return;
  }
  if (u.mode !== NamespaceMode.POD)
    throw invalidArgument(`${f}.mode`, `${NamespaceMode[u.mode] ?? String(u.mode)} is not supported for user namespaces (POD or NODE)`);
  checkIdMappings(`${f}.uids`, u.uids);
  checkIdMappings(`${f}.gids`, u.gids);
  for (const [kind, mode] of [
    ["network", ns.network],
    ["pid", ns.pid],
    ["ipc", ns.ipc],
  ] as const) {
    if (mode === NamespaceMode.NODE)
      throw invalidArgument(`${field}.${kind}`, "the host's namespace cannot be shared by a pod with a user namespace of its own");
  }
}

function checkPodConfig(c: PodSandboxConfig | undefined): void {
  if (c === undefined) throw invalidArgument("config", "a pod sandbox config is required");
  const m = c.metadata;
  if (m === undefined) throw invalidArgument("config.metadata", "is required");
  checkMetadataName("config.metadata.name", m.name);
  checkMetadataName("config.metadata.namespace", m.namespace);
  if (m.uid === "") throw invalidArgument("config.metadata.uid", "is required");
  checkText("config.metadata.uid", m.uid, MAX_METADATA_NAME);
  if (c.hostname !== "") checkHostname("config.hostname", c.hostname);
  if (c.logDirectory !== "") checkAbsolutePath("config.log_directory", c.logDirectory);
  checkCount("config.port_mappings", c.portMappings, MAX_PORT_MAPPINGS);
  c.portMappings.forEach((p, i) => {
    checkRange(`config.port_mappings[${i}].container_port`, p.containerPort, 1, 65535);
    if (p.hostPort !== 0) checkRange(`config.port_mappings[${i}].host_port`, p.hostPort, 1, 65535);
    checkText(`config.port_mappings[${i}].host_ip`, p.hostIp, 64);
  });
  const dns = c.dnsConfig;
  if (dns !== undefined) {
    for (const [key, list] of [
      ["servers", dns.servers],
      ["searches", dns.searches],
      ["options", dns.options],
    ] as const) {
      checkCount(`config.dns_config.${key}`, list, MAX_DNS_ENTRIES);
      list.forEach((v, i) => {
        checkText(`config.dns_config.${key}[${i}]`, v, 256);
        if (/[\s#]/.test(v) && key !== "options") throw invalidArgument(`config.dns_config.${key}[${i}]`, `${shown(v)} contains a space or #`);
      });
    }
  }
  checkStringMap("config.labels", c.labels);
  checkStringMap("config.annotations", c.annotations);
  const linux = c.linux;
  if (linux !== undefined) {
    if (linux.cgroupParent !== "") checkAbsolutePath("config.linux.cgroup_parent", linux.cgroupParent);
    checkSysctls("config.linux.sysctls", linux.sysctls, undefined);
    checkUsernsOptions("config.linux.security_context.namespace_options", linux.securityContext?.namespaceOptions);
  }
}

export function validateRunPodSandbox(req: RunPodSandboxRequest): void {
  rejectUndecodable(req);
  checkPodConfig(req.config);
  if (req.runtimeHandler !== "" && req.runtimeHandler !== "runc")
    throw invalidArgument("runtime_handler", `${shown(req.runtimeHandler)} is not a runtime handler of hull (only the default, "" or runc)`);
}

/** StopPodSandbox, RemovePodSandbox, PodSandboxStatus: a pod id (unknown ones are the operation's business). */
export function validatePodId(req: { podSandboxId: string }): void {
  rejectUndecodable(req);
  checkRequiredId("pod_sandbox_id", req.podSandboxId);
}

export function validateListPodSandbox(req: ListPodSandboxRequest): void {
  rejectUndecodable(req);
  if (req.filter !== undefined) {
    checkIdPrefix("filter.id", req.filter.id);
    checkStringMap("filter.label_selector", req.filter.labelSelector);
  }
}

function checkContainerConfig(c: ContainerConfig | undefined): void {
  if (c === undefined) throw invalidArgument("config", "a container config is required");
  if (c.metadata === undefined) throw invalidArgument("config.metadata", "is required");
  checkMetadataName("config.metadata.name", c.metadata.name);
  if (c.image === undefined || c.image.image === "") throw invalidArgument("config.image", "an image is required");
  checkArgv("config.command", c.command, false);
  c.args.forEach((a, i) => checkText(`config.args[${i}]`, a, 128 * 1024));
  checkEnv(
    "config.envs",
    c.envs.map((e) => `${e.key}=${e.value}`),
  );
  c.envs.forEach((e, i) => {
    if (e.key === "" || e.key.includes("=")) throw invalidArgument(`config.envs[${i}].key`, `${shown(e.key)} is not an environment variable name`);
  });
  if (c.workingDir !== "") checkAbsolutePath("config.working_dir", c.workingDir);
  checkCount("config.mounts", c.mounts, MAX_MOUNTS);
  c.mounts.forEach((m, i) => {
    checkAbsolutePath(`config.mounts[${i}].container_path`, m.containerPath);
    // An image volume names an image instead of a host path (container-config.ts checks both).
    if (m.image === undefined || m.image.image === "") checkAbsolutePath(`config.mounts[${i}].host_path`, m.hostPath);
    else checkImageRef(`config.mounts[${i}].image.image`, m.image.image);
  });
  checkStringMap("config.labels", c.labels);
  checkStringMap("config.annotations", c.annotations);
  checkUsernsOptions("config.linux.security_context.namespace_options", c.linux?.securityContext?.namespaceOptions);
  if (c.logPath !== "") {
    checkText("config.log_path", c.logPath, MAX_PATH_BYTES);
    checkPathComponents("config.log_path", c.logPath);
    if (c.logPath.startsWith("/") || c.logPath.split("/").includes(".."))
      throw invalidArgument("config.log_path", `${shown(c.logPath)} must be relative to the pod's log_directory, without ..`);
  }
}

export function validateCreateContainer(req: CreateContainerRequest): void {
  rejectUndecodable(req);
  checkRequiredId("pod_sandbox_id", req.podSandboxId);
  checkContainerConfig(req.config);
  if (req.sandboxConfig !== undefined) checkPodConfig(req.sandboxConfig);
}

/** StartContainer, RemoveContainer, ContainerStatus, ReopenContainerLog. */
export function validateContainerId(req: { containerId: string }): void {
  rejectUndecodable(req);
  checkRequiredId("container_id", req.containerId);
}

export function validateStopContainer(req: { containerId: string; timeout: bigint }): void {
  validateContainerId(req);
  if (req.timeout < 0n || req.timeout > BigInt(MAX_STOP_TIMEOUT)) throw invalidArgument("timeout", `${req.timeout} is outside 0..${MAX_STOP_TIMEOUT} seconds`);
}

export function validateListContainers(req: ListContainersRequest): void {
  rejectUndecodable(req);
  if (req.filter !== undefined) {
    checkIdPrefix("filter.id", req.filter.id);
    checkIdPrefix("filter.pod_sandbox_id", req.filter.podSandboxId);
    checkStringMap("filter.label_selector", req.filter.labelSelector);
  }
}

export function validateCriExecSync(req: ExecSyncRequest): void {
  validateContainerId(req);
  checkArgv("cmd", req.cmd, true);
  if (req.timeout < 0n || req.timeout > BigInt(MAX_EXEC_TIMEOUT_SECONDS))
    throw invalidArgument("timeout", `${req.timeout} is outside 0..${MAX_EXEC_TIMEOUT_SECONDS} seconds`);
}

export function validateUpdateResources(req: UpdateContainerResourcesRequest): void {
  validateContainerId(req);
  if (req.windows !== undefined) throw invalidArgument("windows", "Windows resources do not apply to a Linux runtime");
  checkStringMap("annotations", req.annotations);
}
