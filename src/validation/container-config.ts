// The rules for a ContainerConfig, field by field from the proto. The shape
// check is pure and runs at the top of CreateContainer, before any lookup;
// the host check (the paths it names exist) runs once the image's defaults
// are applied, just before the record is written (src/ops/create.ts). Mounts
// and SecurityOptions shape the OCI spec, so their own rules are in
// spec-rules.ts, which src/oci/spec.ts uses too.
import { stat } from "node:fs/promises";
import { normalize } from "node:path";
import type { ContainerConfig, Mount, Resources, SecurityOptions } from "../gen/hull/v1/container.js";
import { invalidArgument } from "../errors.js";
import { checkIsolation } from "./isolation-rules.js";
import { checkMountSources, checkSecurity, validateMountShape, validateSecurityShape } from "./spec-rules.js";
import {
  MAX_PATH_BYTES,
  MAX_STOP_TIMEOUT_SECONDS,
  checkAbsolutePath,
  checkArgv,
  checkContainerRef,
  checkCount,
  checkEnv,
  checkHostname,
  checkImageRef,
  checkName,
  checkNetworkMode,
  checkProcessSize,
  checkRange,
  checkRestartPolicy,
  checkSignal,
  checkStringMap,
  checkText,
  checkTimeout,
  checkUser,
  shown,
} from "./rules.js";

export const MAX_MOUNTS = 256;
export const MAX_MOUNT_OPTIONS = 64;
export const MAX_DEPENDENCIES = 256;
export const MAX_CAPABILITIES = 64;
/** The memory cgroup refuses less (runc's own minimum). */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** cgroup v1 cpu.shares range. */
const CPU_SHARES = { min: 2, max: 262_144 };
/** The kernel's largest pid count (pids.max refuses more). */
const PID_MAX_LIMIT = 4_194_304;
/** CFS period bounds in microseconds (1 ms .. 1 s). */
const CPU_PERIOD_US = { min: 1000, max: 1_000_000 };

function checkMount(prefix: string, m: Mount, i: number): void {
  const f = `${prefix}.mounts[${i}]`;
  checkText(`${f}.type`, m.type, 16);
  checkText(`${f}.source`, m.source, MAX_PATH_BYTES);
  checkText(`${f}.destination`, m.destination, MAX_PATH_BYTES);
  checkCount(`${f}.options`, m.options, MAX_MOUNT_OPTIONS);
  m.options.forEach((o, j) => checkText(`${f}.options[${j}]`, o, 256));
  validateMountShape(m, i, prefix);
}

function checkResources(field: string, r: Resources): void {
  if (r.memoryLimitBytes < 0) throw invalidArgument(`${field}.memory_limit_bytes`, `${r.memoryLimitBytes} is negative`);
  if (r.memoryLimitBytes > 0 && r.memoryLimitBytes < MIN_MEMORY_BYTES) {
    throw invalidArgument(`${field}.memory_limit_bytes`, `${r.memoryLimitBytes} is below the 6 MiB minimum`);
  }
  if (r.cpuShares !== 0) checkRange(`${field}.cpu_shares`, r.cpuShares, CPU_SHARES.min, CPU_SHARES.max);
  if (r.cpuPeriodUs !== 0) checkRange(`${field}.cpu_period_us`, r.cpuPeriodUs, CPU_PERIOD_US.min, CPU_PERIOD_US.max);
  // -1 is "no quota", as the cgroup file spells it; otherwise the kernel's 1 ms minimum.
  if (r.cpuQuotaUs !== 0 && r.cpuQuotaUs !== -1) checkRange(`${field}.cpu_quota_us`, r.cpuQuotaUs, 1000, Number.MAX_SAFE_INTEGER);
  // pids_limit: 0 = the default, negative = no limit (the proto's meaning); above PID_MAX_LIMIT the cgroup refuses it.
  if (r.pidsLimit > PID_MAX_LIMIT) throw invalidArgument(`${field}.pids_limit`, `${r.pidsLimit} is above the kernel's ${PID_MAX_LIMIT} (PID_MAX_LIMIT)`);
}

/** Bounds first (spec-rules.ts quotes values); then its rules: known capabilities, namespace ranges. */
function checkSecurityFields(prefix: string, s: SecurityOptions): void {
  const field = `${prefix}.security`;
  for (const [name, list] of [
    ["cap_add", s.capAdd],
    ["cap_drop", s.capDrop],
    ["cap_ambient", s.capAmbient],
  ] as const) {
    checkCount(`${field}.${name}`, list, MAX_CAPABILITIES);
    list.forEach((c, i) => checkText(`${field}.${name}[${i}]`, c, 64));
  }
  checkText(`${field}.seccomp_profile`, s.seccompProfile, MAX_PATH_BYTES);
  if (s.userNamespace) checkText(`${field}.user_namespace.mode`, s.userNamespace.mode, 16);
  validateSecurityShape(s, prefix);
}

/** Rotated files pin disk space; a follower holds each one open until read, so keep the count small. */
const MAX_LOG_FILES = 64;

function checkLogMaxFiles(field: string, files: number, maxSize: number): void {
  if (files < 0 || files > MAX_LOG_FILES) throw invalidArgument(field, `${files} is outside 0..${MAX_LOG_FILES}`);
  if (files > 0 && maxSize === 0) throw invalidArgument(field, "only applies with log_max_size_bytes: without a size limit the log is never rotated");
}

/**
 * Every field of a config as it came over the wire; pure. `prefix` names
 * the config in the request ("config"). A config naming an image may leave
 * the command empty: the image supplies it, and the full check runs again
 * after its defaults are applied.
 */
export function validateContainerConfig(config: ContainerConfig, prefix = "config"): void {
  const f = (name: string): string => `${prefix}.${name}`;
  if (config.name !== "") checkName(f("name"), config.name);

  if (config.image !== "" && config.rootfsPath !== "") throw invalidArgument(f("rootfs_path"), "give either image or rootfs_path, not both");
  if (config.image === "" && config.rootfsPath === "") throw invalidArgument(f("rootfs_path"), "a container needs an image or a rootfs_path");
  if (config.image !== "") checkImageRef(f("image"), config.image);
  else checkAbsolutePath(f("rootfs_path"), config.rootfsPath);

  checkArgv(f("command"), config.command, config.image === "");
  checkEnv(f("env"), config.env);
  checkProcessSize(f("command"), config.command, config.env);
  if (config.workingDir !== "") checkAbsolutePath(f("working_dir"), config.workingDir);
  checkUser(f("user"), config.user);
  checkHostname(f("hostname"), config.hostname);
  if (config.stopSignal !== "") checkSignal(f("stop_signal"), config.stopSignal);
  checkTimeout(f("stop_timeout_seconds"), config.stopTimeoutSeconds, MAX_STOP_TIMEOUT_SECONDS);
  checkRestartPolicy(f("restart_policy"), config.restartPolicy);

  checkCount(f("depends_on"), config.dependsOn, MAX_DEPENDENCIES);
  config.dependsOn.forEach((dep, i) => checkContainerRef(f(`depends_on[${i}]`), dep));
  checkStringMap(f("labels"), config.labels);
  checkStringMap(f("annotations"), config.annotations);

  checkCount(f("mounts"), config.mounts, MAX_MOUNTS);
  config.mounts.forEach((m, i) => checkMount(prefix, m, i));
  if (config.resources) checkResources(f("resources"), config.resources);
  if (config.logMaxSizeBytes < 0) throw invalidArgument(f("log_max_size_bytes"), `${config.logMaxSizeBytes} is negative`);
  checkLogMaxFiles(f("log_max_files"), config.logMaxFiles, config.logMaxSizeBytes);
  checkNetworkMode(f("network_mode"), config.networkMode);
  if (config.security) checkSecurityFields(prefix, config.security);
  checkIsolation(prefix, config);
}

/**
 * The final config (image defaults applied): its shape again, now with a
 * command required, then the host paths it names: the root filesystem, bind
 * sources (never inside protectedDirs: create passes hulld's root and run
 * root) and a seccomp profile file that parses. Needs the file system, so it
 * runs at create time, just before the record is written.
 */
export async function validateConfigOnHost(
  config: ContainerConfig,
  protectedDirs: readonly string[] = [],
  prefix = "config",
  grantedMountSources: readonly string[] = [],
): Promise<void> {
  validateContainerConfig(config, prefix);
  checkArgv(`${prefix}.command`, config.command, true);
  if (config.image === "") {
    const field = `${prefix}.rootfs_path`;
    const st = await stat(config.rootfsPath).catch(() => undefined);
    if (!st) throw invalidArgument(field, `${shown(config.rootfsPath)} does not exist`);
    if (!st.isDirectory()) throw invalidArgument(field, `${shown(config.rootfsPath)} is not a directory`);
    if (normalize(config.rootfsPath) === "/") throw invalidArgument(field, "the host's / cannot be a container's root filesystem");
  }
  await checkMountSources(config.mounts, protectedDirs, prefix, grantedMountSources);
  await checkSecurity(config.security, prefix);
}
