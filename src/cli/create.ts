// `hull create`: podman-create-like flags mapped onto ContainerConfig.
import { type Command, Option } from "commander";
import { resolve } from "node:path";
import { ContainerConfig, Resources, SecurityOptions } from "../gen/hull/v1/container.js";
import {
  UsageError,
  collect,
  parseBytes,
  parseDevice,
  parseEnv,
  parseInteger,
  parseKeyValues,
  parseNetwork,
  parseRestart,
  parseMount,
  parseVolume,
  splitCreateOperands,
} from "./parse.js";

export interface CreateOptions {
  name?: string;
  rootfs?: string;
  image?: string;
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  interactive?: boolean;
  stopSignal?: string;
  stopTimeout?: string;
  restart?: string;
  requires: string[];
  label: string[];
  annotation: string[];
  volume: string[];
  device: string[];
  mount: string[];
  memory?: string;
  pidsLimit?: string;
  network?: string;
  readOnly?: boolean;
  logMaxSize?: string;
  logMaxFiles?: string;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  userns?: string;
}

/** Declares create's options on `cmd`; the caller adds the action. */
export function defineCreate(cmd: Command): Command {
  return cmd
    .description("create a container (prints its full id); the command follows `--`")
    .usage("[options] [IMAGE] [--] COMMAND [ARG...]")
    .option("--name <name>", "container name")
    .option("--rootfs <dir>", "host directory to use as the root filesystem")
    .option("--image <ref>", "image reference in hull's image store")
    .option("-e, --env <KEY=VALUE>", "environment variable (repeatable; bare KEY copies it from here)", collect, [])
    .option("-w, --workdir <dir>", "working directory inside the container")
    .option("-u, --user <user[:group]>", "user to run as")
    .option("--hostname <name>", "host name inside the container")
    .option("-t, --tty", "allocate a terminal")
    .option("-i, --interactive", "keep stdin open")
    .option("--stop-signal <signal>", "signal that stops the container (default SIGTERM)")
    .option("--stop-timeout <seconds>", "seconds between the stop signal and SIGKILL (default 10)")
    .addOption(new Option("--restart <policy>", "restart policy: no, on-failure[:N], always, unless-stopped"))
    .option("--requires <name>", "container that must run first (repeatable, or comma-separated)", collect, [])
    .option("-l, --label <KEY=VALUE>", "label (repeatable)", collect, [])
    .option("--annotation <KEY=VALUE>", "annotation (repeatable)", collect, [])
    .option("-v, --volume <SRC:DST[:OPTS]>", "bind mount a host path (repeatable; OPTS e.g. ro)", collect, [])
    .option(
      "--device <HOST[:CONTAINER][:PERMS]>",
      "give the container a host device node, or every node under a directory (repeatable; PERMS r, w, m, default rwm)",
      collect,
      [],
    )
    .option("--mount <type=image,source=IMG,destination=DST>", "mount an image's filesystem read-only (an image volume, as Podman's; repeatable)", collect, [])
    .option("-m, --memory <bytes>", "memory limit, e.g. 64m, 1g")
    .option("--pids-limit <n>", "maximum number of processes (default 2048; 0 or -1: no limit)")
    .option("--cap-add <cap>", "add a capability, e.g. NET_RAW or ALL (repeatable, or comma-separated)", collect, [])
    .option("--cap-drop <cap>", "drop a capability from the default set, or ALL (repeatable, or comma-separated)", collect, [])
    .option("--security-opt <opt>", "no-new-privileges[=true|false], seccomp=unconfined or seccomp=PROFILE.json (repeatable)", collect, [])
    .option("--userns <mode>", "user namespace: host (default) or private:HOSTID[:SIZE] (SIZE default 65536)")
    .option("--network <mode>", "host (default) or none")
    .option("--read-only", "mount the root filesystem read-only")
    .option("--log-max-size <bytes>", "rotate the container's log file at this size, e.g. 10m")
    .option("--log-max-files <n>", "rotated log files to keep beside the log (default 1)")
    .argument("[args...]", "IMAGE and/or the command")
    .passThroughOptions();
}

/** Builds the CreateContainer config; `rawTail` is argv after "create" (see splitCreateOperands). */
export function buildConfig(opts: CreateOptions, operands: string[], rawTail: string[]): ContainerConfig {
  const hasSource = opts.rootfs !== undefined || opts.image !== undefined;
  const split = splitCreateOperands(operands, rawTail, hasSource);
  if (split.image !== "" && hasSource) {
    throw new UsageError(`IMAGE "${split.image}" given together with --rootfs/--image; put the command after "--"`);
  }
  const image = opts.image ?? split.image;
  if (opts.rootfs === undefined && image === "") throw new UsageError("create needs IMAGE, --image or --rootfs");
  if (split.command.length === 0) throw new UsageError(`create needs a command, e.g. hull create --rootfs DIR -- sh -c 'echo hi'`);

  const resources: Resources = Resources.fromPartial({});
  if (opts.memory !== undefined) resources.memoryLimitBytes = parseBytes("--memory", opts.memory);
  // As containers.conf: 0 is "no limit" on the command line; in the API 0 asks for the default.
  if (opts.pidsLimit !== undefined) resources.pidsLimit = parseInteger("--pids-limit", opts.pidsLimit, -1) || -1;
  const hasResources = opts.memory !== undefined || opts.pidsLimit !== undefined;

  return ContainerConfig.fromPartial({
    name: opts.name ?? "",
    image,
    rootfsPath: opts.rootfs ?? "",
    command: split.command,
    env: parseEnv(opts.env),
    workingDir: opts.workdir ?? "",
    user: opts.user ?? "",
    hostname: opts.hostname ?? "",
    tty: opts.tty === true,
    stdin: opts.interactive === true,
    stopSignal: opts.stopSignal ?? "",
    stopTimeoutSeconds: opts.stopTimeout === undefined ? undefined : parseInteger("--stop-timeout", opts.stopTimeout),
    restartPolicy: opts.restart === undefined ? undefined : parseRestart(opts.restart),
    dependsOn: opts.requires.flatMap((r) => r.split(",")).filter((r) => r !== ""),
    labels: parseKeyValues("--label", opts.label, true),
    annotations: parseKeyValues("--annotation", opts.annotation, false),
    mounts: [...opts.volume.map((v) => parseVolume(v)), ...opts.mount.map(parseMount)],
    devices: opts.device.map(parseDevice),
    resources: hasResources ? resources : undefined,
    logMaxSizeBytes: opts.logMaxSize === undefined ? 0 : parseBytes("--log-max-size", opts.logMaxSize),
    logMaxFiles: opts.logMaxFiles === undefined ? 0 : parseInteger("--log-max-files", opts.logMaxFiles, 1),
    networkMode: opts.network === undefined ? "" : parseNetwork(opts.network),
    readOnlyRootfs: opts.readOnly === true,
    security: buildSecurity(opts),
  });
}

const splitList = (values: string[]): string[] =>
  values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");

/**
 * --cap-add/--cap-drop/--security-opt/--userns into SecurityOptions; undefined
 * when none is given. Capability names are the daemon's to check.
 */
export function buildSecurity(opts: Pick<CreateOptions, "capAdd" | "capDrop" | "securityOpt" | "userns">, cwd = process.cwd()): SecurityOptions | undefined {
  const security: SecurityOptions = SecurityOptions.fromPartial({ capAdd: splitList(opts.capAdd ?? []), capDrop: splitList(opts.capDrop ?? []) });
  for (const opt of opts.securityOpt ?? []) {
    // podman takes KEY=VALUE and the older KEY:VALUE alike.
    const sep = opt.search(/[=:]/);
    const key = sep < 0 ? opt : opt.slice(0, sep);
    const value = sep < 0 ? undefined : opt.slice(sep + 1);
    if (key === "no-new-privileges") {
      if (value !== undefined && value !== "true" && value !== "false") throw new UsageError(`--security-opt: "${opt}" takes true or false`);
      security.allowNewPrivileges = value === "false";
    } else if (key === "seccomp" && value !== undefined && value !== "") {
      // A relative profile path means the CLI's cwd, as --volume's sources do.
      security.seccompProfile = value === "unconfined" ? value : resolve(cwd, value);
    } else {
      throw new UsageError(`--security-opt: "${opt}" is not one of no-new-privileges[=true|false], seccomp=unconfined, seccomp=PROFILE`);
    }
  }
  if (opts.userns !== undefined) security.userNamespace = parseUserns(opts.userns);
  const given = security.capAdd.length > 0 || security.capDrop.length > 0 || (opts.securityOpt ?? []).length > 0 || opts.userns !== undefined;
  return given ? security : undefined;
}

/** "host", "private:100000" or "private:100000:65536". */
export function parseUserns(value: string): NonNullable<SecurityOptions["userNamespace"]> {
  if (value === "host") return { mode: "host", hostId: 0, size: 0, gidSize: 0 };
  const [mode, hostId, size, ...rest] = value.split(":");
  if (mode !== "private" || hostId === undefined || rest.length > 0) {
    throw new UsageError(`--userns: "${value}" is not host or private:HOSTID[:SIZE]`);
  }
  const id = parseInteger("--userns host id", hostId);
  const n = size === undefined ? 0 : parseInteger("--userns size", size, 1);
  if (id > 0xffffffff || n > 0xffffffff) throw new UsageError(`--userns: "${value}" does not fit 32-bit ids`);
  return { mode: "private", hostId: id, size: n, gidSize: 0 };
}
