// Validation of a CreateContainer config: every field that came over the
// wire is checked here before anything is written, and each refusal names
// the field (INVALID_ARGUMENT).
import { stat } from "node:fs/promises";
import { isAbsolute, normalize } from "node:path";
import type { ContainerConfig } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import { parseSignal } from "../oci/signals.js";

export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_NAME = 253;
const MAX_ARG_BYTES = 128 * 1024;
const MAX_ARGS = 4096;
const MAX_STOP_TIMEOUT = 24 * 3600;
const ENV_KEY = /^[^=\0]+$/;
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)*$/;
const USER = /^[a-zA-Z0-9_.-]+(:[a-zA-Z0-9_.-]+)?$/;
const RESTART_POLICIES = new Set(["", "no", "on-failure", "always", "unless-stopped"]);
const NETWORK_MODES = new Set(["", "host", "none"]);
const MOUNT_TYPES = new Set(["", "bind", "tmpfs", "proc"]);

export function validateName(name: string, field = "name"): void {
  if (name.length > MAX_NAME) throw invalidArgument(field, `"${name.slice(0, 40)}…" is longer than ${MAX_NAME} characters`);
  if (!NAME_PATTERN.test(name)) {
    throw invalidArgument(field, `"${name}" must match ${NAME_PATTERN.source}`);
  }
}

function checkText(field: string, value: string): void {
  if (value.includes("\0")) throw invalidArgument(field, "contains a NUL byte");
  if (Buffer.byteLength(value) > MAX_ARG_BYTES) throw invalidArgument(field, `longer than ${MAX_ARG_BYTES} bytes`);
}

function checkContainerPath(field: string, path: string): void {
  checkText(field, path);
  if (!isAbsolute(path)) throw invalidArgument(field, `"${path}" is not an absolute path`);
  if (path.split("/").includes("..")) throw invalidArgument(field, `"${path}" contains ".."`);
}

/** Checks the config's shape and the host paths it names. Pure but for stat(). */
export async function validateConfig(config: ContainerConfig): Promise<void> {
  if (config.name !== "") validateName(config.name);

  if (config.image !== "" && config.rootfsPath !== "") {
    throw invalidArgument("rootfs_path", "give either image or rootfs_path, not both");
  }
  if (config.image === "" && config.rootfsPath === "") {
    throw invalidArgument("rootfs_path", "a container needs an image or a rootfs_path");
  }
  // An image is looked up in the image store by createContainer, which applies its defaults before calling this.
  if (config.image === "") {
    checkContainerPath("rootfs_path", config.rootfsPath);
    const st = await stat(config.rootfsPath).catch(() => undefined);
    if (!st) throw invalidArgument("rootfs_path", `"${config.rootfsPath}" does not exist`);
    if (!st.isDirectory()) throw invalidArgument("rootfs_path", `"${config.rootfsPath}" is not a directory`);
    if (normalize(config.rootfsPath) === "/") throw invalidArgument("rootfs_path", "the host's / cannot be a container's root filesystem");
  }

  if (config.command.length === 0) throw invalidArgument("command", "a command is required");
  if (config.command.length > MAX_ARGS) throw invalidArgument("command", `more than ${MAX_ARGS} arguments`);
  if (config.command[0] === "") throw invalidArgument("command[0]", "the program is empty");
  config.command.forEach((arg, i) => checkText(`command[${i}]`, arg));

  config.env.forEach((entry, i) => {
    checkText(`env[${i}]`, entry);
    const eq = entry.indexOf("=");
    if (eq <= 0 || !ENV_KEY.test(entry.slice(0, eq))) throw invalidArgument(`env[${i}]`, `"${entry.slice(0, 60)}" is not KEY=VALUE`);
  });
  if (config.env.length > MAX_ARGS) throw invalidArgument("env", `more than ${MAX_ARGS} entries`);

  if (config.workingDir !== "") checkContainerPath("working_dir", config.workingDir);
  if (config.user !== "" && !USER.test(config.user)) throw invalidArgument("user", `"${config.user}" is not user[:group]`);
  if (config.hostname !== "" && (config.hostname.length > 253 || !HOSTNAME.test(config.hostname))) {
    throw invalidArgument("hostname", `"${config.hostname.slice(0, 60)}" is not a valid host name`);
  }
  if (config.stopSignal !== "") parseSignal(config.stopSignal);
  if (config.stopTimeoutSeconds !== undefined && config.stopTimeoutSeconds > MAX_STOP_TIMEOUT) {
    throw invalidArgument("stop_timeout_seconds", `at most ${MAX_STOP_TIMEOUT}`);
  }

  const policy = config.restartPolicy?.name ?? "";
  if (!RESTART_POLICIES.has(policy)) {
    throw invalidArgument("restart_policy.name", `"${policy}" is not one of no, on-failure, always, unless-stopped`);
  }
  if ((config.restartPolicy?.maxRetries ?? 0) > 0 && policy !== "on-failure") {
    throw invalidArgument("restart_policy.max_retries", "only on-failure takes a retry count");
  }

  config.dependsOn.forEach((dep, i) => {
    if (dep === "") throw invalidArgument(`depends_on[${i}]`, "empty");
  });
  for (const [key, value] of Object.entries(config.labels)) {
    if (key === "" || key.includes("\0") || value.includes("\0")) throw invalidArgument("labels", `bad label "${key.slice(0, 60)}"`);
  }
  for (const [key, value] of Object.entries(config.annotations)) {
    if (key === "" || key.includes("\0") || value.includes("\0")) throw invalidArgument("annotations", `bad annotation "${key.slice(0, 60)}"`);
  }

  for (const [i, m] of config.mounts.entries()) {
    if (!MOUNT_TYPES.has(m.type)) throw invalidArgument(`mounts[${i}].type`, `"${m.type}" is not bind, tmpfs or proc`);
    checkContainerPath(`mounts[${i}].destination`, m.destination);
    m.options.forEach((o, j) => checkText(`mounts[${i}].options[${j}]`, o));
    if (m.type === "" || m.type === "bind") {
      checkContainerPath(`mounts[${i}].source`, m.source);
      const exists = await stat(m.source).then(() => true, () => false);
      if (!exists) throw invalidArgument(`mounts[${i}].source`, `"${m.source}" does not exist`);
    }
  }

  const r = config.resources;
  if (r) {
    if (r.memoryLimitBytes < 0) throw invalidArgument("resources.memory_limit_bytes", "negative");
    if (r.memoryLimitBytes > 0 && r.memoryLimitBytes < 6 * 1024 * 1024) throw invalidArgument("resources.memory_limit_bytes", "below the 6 MiB minimum");
    if (r.cpuQuotaUs < 0 && r.cpuQuotaUs !== -1) throw invalidArgument("resources.cpu_quota_us", "negative");
    if (r.pidsLimit < 0 && r.pidsLimit !== -1) throw invalidArgument("resources.pids_limit", "negative");
  }
  if (config.logMaxSizeBytes < 0) throw invalidArgument("log_max_size_bytes", "negative");
  if (!NETWORK_MODES.has(config.networkMode)) throw invalidArgument("network_mode", `"${config.networkMode}" is not host or none`);
}

/**
 * Checks the fields an exec request shares with a container config (command,
 * env, working dir, user) by the same rules CreateContainer applies.
 */
export function validateProcessFields(p: { command: string[]; env: string[]; workingDir: string; user: string }): void {
  if (p.command.length === 0) throw invalidArgument("command", "a command is required");
  if (p.command.length > MAX_ARGS) throw invalidArgument("command", `more than ${MAX_ARGS} arguments`);
  if (p.command[0] === "") throw invalidArgument("command[0]", "the program is empty");
  p.command.forEach((arg, i) => checkText(`command[${i}]`, arg));
  if (p.env.length > MAX_ARGS) throw invalidArgument("env", `more than ${MAX_ARGS} entries`);
  p.env.forEach((entry, i) => {
    checkText(`env[${i}]`, entry);
    const eq = entry.indexOf("=");
    if (eq <= 0 || !ENV_KEY.test(entry.slice(0, eq))) throw invalidArgument(`env[${i}]`, `"${entry.slice(0, 60)}" is not KEY=VALUE`);
  });
  if (p.workingDir !== "") checkContainerPath("working_dir", p.workingDir);
  if (p.user !== "" && !USER.test(p.user)) throw invalidArgument("user", `"${p.user.slice(0, 60)}" is not user[:group]`);
}
