// The rules every field from the wire is held to, one function per kind of
// value. Each refusal is INVALID_ARGUMENT naming the field's path
// ("config.env[3]"), and a message that quotes at most a short, printable
// part of the value: a hostile 1 MiB value must not come back as a 1 MiB
// status trailer. Pure: nothing here touches the file system.
import { isAbsolute } from "node:path";
import { HullError, invalidArgument, shown } from "../errors.js";
import { parseSignal } from "../domain/signals.js";
import { parseDetachKeys } from "../domain/detach-keys.js";
import { FULL_ID, MAX_REF_LENGTH, checkContainerRef } from "../domain/container-ref.js";

/** A container reference (full id, id prefix or name) by the store's own rule. */
export { FULL_ID, checkContainerRef, shown };

/** Podman's container name rule. */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Names, ids and prefixes: the store's key limit. */
export const MAX_NAME_LENGTH = MAX_REF_LENGTH;
/** Linux's MAX_ARG_STRLEN (131072) is one argv or env string with its NUL: this many bytes before it. */
export const MAX_ARG_BYTES = 128 * 1024 - 1;
export const MAX_ARGS = 4096;
/**
 * argv and env together, each string counted with its NUL and its pointer
 * (8 bytes), as execve(2) counts them. The kernel takes at most a quarter of
 * the stack rlimit: 2 MiB at the usual 8 MiB (fs/exec.c; 128 KiB floor).
 * Half of that is left over because the request does not show everything the
 * process gets: an exec's env is the container's env (itself up to this
 * limit with its command) plus the request's, hull adds PATH, HOSTNAME,
 * TERM and HOME, and the kernel puts the program's path and auxv on the same
 * stack. So 1 MiB, half the kernel's 2 MiB: a request within it leaves the
 * other half for those (an exec into a container whose own env is near this
 * limit can still exceed it: execve then fails in the container, exit status
 * 1, never a daemon error), and real commands are far below it.
 */
export const MAX_PROCESS_BYTES = 1024 * 1024;
const POINTER_BYTES = 8;
/** PATH_MAX (4096) counts the terminating NUL: a path the kernel takes has at most 4095 bytes. */
export const MAX_PATH_BYTES = 4095;
/** NAME_MAX on Linux file systems: the longest path component (a file name). */
export const MAX_FILE_NAME_BYTES = 255;
/** A stop timeout: hull waits with a timer, and a day is far past any real grace period. */
export const MAX_STOP_TIMEOUT_SECONDS = 24 * 3600;
/** An exec timeout, run by conmon's own timer (a C int): a year is plenty. */
export const MAX_EXEC_TIMEOUT_SECONDS = 365 * 24 * 3600;
/** struct winsize holds unsigned shorts. */
export const MAX_TERMINAL_DIMENSION = 0xffff;
export const MAX_LABEL_KEY_BYTES = 253;
export const MAX_LABEL_VALUE_BYTES = 64 * 1024;
export const MAX_LABELS = 1024;
export const MAX_USER_LENGTH = 256;
export const MAX_HOSTNAME_LENGTH = 253;
export const MAX_DETACH_KEYS_LENGTH = 64;
/** Free text the daemon only compares (filters, credentials). */
export const MAX_TEXT_BYTES = 4096;

const USER = /^[a-zA-Z0-9_.-]+(:[a-zA-Z0-9_.-]+)?$/;
// RFC 1123: labels of 1..63 letters, digits and inner hyphens.
const HOSTNAME_LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const ENV_KEY = /^[^=\0]+$/;
const RESTART_POLICIES: ReadonlySet<string> = new Set(["", "no", "on-failure", "always", "unless-stopped"]);
const NETWORK_MODES: ReadonlySet<string> = new Set(["", "host", "none"]);

function bytes(value: string): number {
  return Buffer.byteLength(value, "utf8");
}

/** No NUL byte, at most maxBytes of UTF-8. */
export function checkText(field: string, value: string, maxBytes = MAX_TEXT_BYTES): void {
  if (value.includes("\0")) throw invalidArgument(field, `${shown(value)} contains a NUL byte`);
  const n = bytes(value);
  if (n > maxBytes) throw invalidArgument(field, `${shown(value)} is ${n} bytes long; the limit is ${maxBytes}`);
}

/** A container name (Podman's rule); "" is left to the caller (it means "generate one"). */
export function checkName(field: string, name: string): void {
  if (name.length > MAX_NAME_LENGTH) throw invalidArgument(field, `${shown(name)} is longer than ${MAX_NAME_LENGTH} characters`);
  if (!NAME_PATTERN.test(name)) throw invalidArgument(field, `${shown(name)} must match ${NAME_PATTERN.source}`);
}

/** An id prefix filter: lowercase hex, at most a full id. "" = no filter. */
export function checkIdPrefix(field: string, prefix: string): void {
  if (prefix.length > 64 || !/^[0-9a-f]*$/.test(prefix)) throw invalidArgument(field, `${shown(prefix)} is not a prefix of a 64-hex-digit id`);
}

/**
 * Every component of a path (split on "/") at most NAME_MAX bytes: a longer
 * one names nothing on any Linux file system (ENAMETOOLONG), so it is the
 * request that is wrong, and the runtime is never asked (runc quotes the
 * whole path back, and conmon passes on only the first 8 KiB of that).
 */
export function checkPathComponents(field: string, path: string): void {
  for (const part of path.split("/")) {
    const n = bytes(part);
    if (n > MAX_FILE_NAME_BYTES) {
      const what = part === path ? `${shown(path)} is ${n} bytes long` : `${shown(path)} has a ${n}-byte component ${shown(part)}`;
      throw invalidArgument(field, `${what}; a file name is at most ${MAX_FILE_NAME_BYTES} bytes (NAME_MAX)`);
    }
  }
}

/**
 * The program of an argv: a bare name (looked up in PATH) is one file name;
 * a path ("/bin/sh", "bin/sh") is held to PATH_MAX and NAME_MAX per component.
 */
export function checkProgram(field: string, program: string): void {
  if (program === "") throw invalidArgument(field, "the program is empty");
  if (program.includes("/")) {
    const n = bytes(program);
    if (n > MAX_PATH_BYTES) throw invalidArgument(field, `${shown(program)} is ${n} bytes long; a path is at most ${MAX_PATH_BYTES} bytes (PATH_MAX)`);
  }
  checkPathComponents(field, program);
}

/** An argv: at most MAX_ARGS strings without NUL, each within MAX_ARG_STRLEN; a program first when required. */
export function checkArgv(field: string, argv: readonly string[], required: boolean): void {
  if (argv.length === 0) {
    if (required) throw invalidArgument(field, "a command is required");
    return;
  }
  if (argv.length > MAX_ARGS) throw invalidArgument(field, `${argv.length} arguments; the limit is ${MAX_ARGS}`);
  if (argv[0] === "") throw invalidArgument(`${field}[0]`, "the program is empty");
  argv.forEach((arg, i) => checkText(`${field}[${i}]`, arg, MAX_ARG_BYTES));
  checkProgram(`${field}[0]`, argv[0] ?? "");
}

/** KEY=VALUE entries: key non-empty, no "=" in it, no NUL anywhere. */
export function checkEnv(field: string, env: readonly string[]): void {
  if (env.length > MAX_ARGS) throw invalidArgument(field, `${env.length} entries; the limit is ${MAX_ARGS}`);
  env.forEach((entry, i) => {
    const f = `${field}[${i}]`;
    checkText(f, entry, MAX_ARG_BYTES);
    const eq = entry.indexOf("=");
    if (eq <= 0 || !ENV_KEY.test(entry.slice(0, eq))) throw invalidArgument(f, `${shown(entry)} is not KEY=VALUE`);
  });
}

/** argv plus env must fit what execve(2) takes (see MAX_PROCESS_BYTES). */
export function checkProcessSize(field: string, argv: readonly string[], env: readonly string[]): void {
  let total = 0;
  for (const s of [...argv, ...env]) total += bytes(s) + 1 + POINTER_BYTES;
  if (total > MAX_PROCESS_BYTES) {
    throw invalidArgument(
      field,
      `command and env take ${total} bytes (each string with its NUL and an ${POINTER_BYTES}-byte pointer); the limit is ${MAX_PROCESS_BYTES}`,
    );
  }
}

/**
 * An absolute path (in the container or on the host): no NUL, at most
 * PATH_MAX - 1 bytes, no component over NAME_MAX, no ".." component (a path
 * that climbs is never what a config means, and refusing it keeps every
 * path's meaning plain).
 */
export function checkAbsolutePath(field: string, path: string): void {
  if (path === "") throw invalidArgument(field, "an absolute path is required");
  checkText(field, path, MAX_PATH_BYTES);
  if (!isAbsolute(path)) throw invalidArgument(field, `${shown(path)} is not an absolute path`);
  if (path.split("/").includes("..")) throw invalidArgument(field, `${shown(path)} contains ".."`);
  checkPathComponents(field, path);
}

/** A host path naming a file to write or read (not a directory: no trailing "/"). */
export function checkHostFilePath(field: string, path: string): void {
  checkAbsolutePath(field, path);
  if (path.endsWith("/")) throw invalidArgument(field, `${shown(path)} names a directory, not a file`);
}

/** "uid", "uid:gid", "name" or "name:group"; "" = the default. */
export function checkUser(field: string, user: string): void {
  if (user === "") return;
  if (user.length > MAX_USER_LENGTH || !USER.test(user)) throw invalidArgument(field, `${shown(user)} is not user[:group]`);
}

/** An RFC 1123 host name; "" = the default. */
export function checkHostname(field: string, hostname: string): void {
  if (hostname === "") return;
  const ok = hostname.length <= MAX_HOSTNAME_LENGTH && hostname.split(".").every((label) => HOSTNAME_LABEL.test(label));
  if (!ok) throw invalidArgument(field, `${shown(hostname)} is not a valid host name (RFC 1123)`);
}

/** A signal name or number; "" is left to the caller (each RPC has its default). */
export function checkSignal(field: string, signal: string): number {
  if (signal.length > 32) throw invalidArgument(field, `${shown(signal)} is not a known signal name or number`);
  return parseSignal(signal, field);
}

/** Seconds, at most max (absent is always fine: it means the default). */
export function checkTimeout(field: string, seconds: number | undefined, max: number): void {
  if (seconds === undefined) return;
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > max) throw invalidArgument(field, `${seconds} is not a number of seconds from 0 to ${max}`);
}

/** A whole number in min..max. */
export function checkRange(field: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalidArgument(field, `${value} is not in ${min}..${max}`);
}

/** A terminal size: both dimensions in 1..65535 (struct winsize's unsigned shorts). Returns them. */
export function checkTerminalSize(field: string, size: { height: number; width: number } | undefined): { height: number; width: number } {
  if (!size) throw invalidArgument(field, "required");
  checkRange(`${field}.height`, size.height, 1, MAX_TERMINAL_DIMENSION);
  checkRange(`${field}.width`, size.width, 1, MAX_TERMINAL_DIMENSION);
  return { height: size.height, width: size.width };
}

/** Labels or annotations: non-empty keys of at most 253 bytes, bounded values, no NUL. */
export function checkStringMap(field: string, map: Readonly<Record<string, string>>): void {
  const entries = Object.entries(map);
  if (entries.length > MAX_LABELS) throw invalidArgument(field, `${entries.length} entries; the limit is ${MAX_LABELS}`);
  for (const [key, value] of entries) {
    if (key === "") throw invalidArgument(field, "a key is empty");
    checkText(`${field}[${shown(key)}]`, key, MAX_LABEL_KEY_BYTES);
    checkText(`${field}[${shown(key)}]`, value, MAX_LABEL_VALUE_BYTES);
  }
}

/** Detach keys: "" (the default), "none", or comma-separated keys (see domain/detach-keys.ts). */
export function checkDetachKeys(field: string, spec: string): void {
  if (spec.length > MAX_DETACH_KEYS_LENGTH) throw invalidArgument(field, `${shown(spec)} is longer than ${MAX_DETACH_KEYS_LENGTH} characters`);
  // A literal NUL is refused like everywhere else; ctrl-@ spells that key.
  checkText(field, spec, MAX_DETACH_KEYS_LENGTH);
  parseDetachKeys(spec, field);
}

export function checkRestartPolicy(field: string, policy: { name: string; maxRetries: number } | undefined): void {
  const name = policy?.name ?? "";
  if (!RESTART_POLICIES.has(name)) throw invalidArgument(`${field}.name`, `${shown(name)} is not one of no, on-failure, always, unless-stopped`);
  if ((policy?.maxRetries ?? 0) > 0 && name !== "on-failure") throw invalidArgument(`${field}.max_retries`, "only on-failure takes a retry count");
}

export function checkNetworkMode(field: string, mode: string): void {
  if (!NETWORK_MODES.has(mode)) throw invalidArgument(field, `${shown(mode)} is not host or none`);
}

/** A decoded google.protobuf.Timestamp: a Date that holds a real time. */
export function checkTimestamp(field: string, t: Date | undefined): void {
  if (t !== undefined && Number.isNaN(t.getTime())) throw invalidArgument(field, "not a valid time (out of range)");
}

/** since <= until when both are given. */
export function checkTimeWindow(sinceField: string, since: Date | undefined, until: Date | undefined): void {
  checkTimestamp(sinceField, since);
  checkTimestamp("until", until);
  if (since && until && since.getTime() > until.getTime()) {
    throw invalidArgument(sinceField, `since (${since.toISOString()}) is after until (${until.toISOString()})`);
  }
}

/** A value of a protobuf enum (ts-proto's numeric enum object), UNSPECIFIED refused when asked. */
export function checkEnum(field: string, value: number, values: Readonly<Record<string, string | number>>, allowUnspecified = false): void {
  const known = typeof values[value] === "string";
  if (!known || (!allowUnspecified && value === 0)) throw invalidArgument(field, `${value} is not a valid value`);
}

/** A list of at most max entries. */
export function checkCount(field: string, list: readonly unknown[], max: number): void {
  if (list.length > max) throw invalidArgument(field, `${list.length} entries; the limit is ${max}`);
}

/** Image references as the image store resolves them: a tag reference, an id or an id prefix. */
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/;
export const MAX_IMAGE_REF_LENGTH = 255;

/** An image reference (tag, "sha256:<id>" or id prefix); its grammar is checked where it is parsed. */
export function checkImageRef(field: string, ref: string): void {
  if (ref === "") throw invalidArgument(field, "an image reference is required");
  if (ref.length > MAX_IMAGE_REF_LENGTH) throw invalidArgument(field, `${shown(ref)} is longer than ${MAX_IMAGE_REF_LENGTH} characters`);
  if (!IMAGE_REF.test(ref)) throw invalidArgument(field, `${shown(ref)} is not an image reference, id or id prefix`);
}

/** A plain file name (an artifact's): no "/", no NUL, not "." or "..", at most NAME_MAX bytes. */
export function checkFileName(field: string, name: string): void {
  if (name === "") throw invalidArgument(field, "a name is required");
  if (name.includes("/")) throw invalidArgument(field, `${shown(name)} contains "/": names are plain file names`);
  if (name.includes("\0")) throw invalidArgument(field, `${shown(name)} contains a NUL byte`);
  if (name === "." || name === "..") throw invalidArgument(field, `${shown(name)} is not a file name`);
  const n = bytes(name);
  if (n > MAX_FILE_NAME_BYTES) throw invalidArgument(field, `${shown(name)} is ${n} bytes long; the limit is ${MAX_FILE_NAME_BYTES} bytes (UTF-8)`);
}

/** Largest artifact accepted: artifacts are small blobs, and Get holds one in memory. */
export const MAX_ARTIFACT_BYTES = 1024 * 1024;

/** Throws INVALID_ARGUMENT (field "data") for data over MAX_ARTIFACT_BYTES. */
export function validateArtifactData(data: Uint8Array): void {
  if (data.length > MAX_ARTIFACT_BYTES) {
    throw new HullError("INVALID_ARGUMENT", `invalid data: the artifact is ${data.length} bytes; the limit is ${MAX_ARTIFACT_BYTES} bytes (1 MiB)`, {
      field: "data",
      limitBytes: String(MAX_ARTIFACT_BYTES),
    });
  }
}
