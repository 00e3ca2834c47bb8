// A seccomp profile file a user names (Docker's or the OCI format): read,
// checked field by field (INVALID_ARGUMENT naming the field) and parsed for
// src/oci/seccomp.ts, which turns profiles into the spec's linux.seccomp.
import { readFile } from "node:fs/promises";
import { release } from "node:os";
import { HullError, invalidArgument } from "../errors.js";

export type SeccompAction =
  | "SCMP_ACT_KILL"
  | "SCMP_ACT_KILL_PROCESS"
  | "SCMP_ACT_KILL_THREAD"
  | "SCMP_ACT_TRAP"
  | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_TRACE"
  | "SCMP_ACT_ALLOW"
  | "SCMP_ACT_LOG";
export type SeccompOperator = "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";

const ACTIONS: ReadonlySet<string> = new Set<SeccompAction>([
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
]);
const OPERATORS: ReadonlySet<string> = new Set<SeccompOperator>([
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
]);
// runc 1.1.5 knows these (libcontainer/seccomp/config.go).
const FLAGS: ReadonlySet<string> = new Set(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);

/** One comparison; for SCMP_CMP_MASKED_EQ `value` is the mask and `valueTwo` the expected result. */
export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface OciSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: OciSyscall[];
}

/** A rule before the container's capabilities are known (Docker's includes/excludes.caps). */
export interface SeccompRule extends OciSyscall {
  /** The rule applies only when the container holds every one of these. */
  includesCaps?: string[];
  /** The rule is lifted when the container holds any of these. */
  excludesCaps?: string[];
}

export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  syscalls: SeccompRule[];
}

// ---- A user's profile file ---------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const SYSCALL_NAME = /^[a-z0-9_]{1,64}$/;
const CAP_NAME = /^CAP_[A-Z_]{1,32}$/;
const ARCH_NAME = /^SCMP_ARCH_[A-Z0-9_]{1,32}$/;
const MAX_PROFILE_BYTES = 4 << 20;

/** Docker's names for this host's architecture (Go's GOARCH, and libseccomp's). */
function hostArches(): { goarch: string; scmp: string } {
  switch (process.arch) {
    case "x64":
      return { goarch: "amd64", scmp: "SCMP_ARCH_X86_64" };
    case "arm64":
      return { goarch: "arm64", scmp: "SCMP_ARCH_AARCH64" };
    case "ia32":
      return { goarch: "386", scmp: "SCMP_ARCH_X86" };
    default:
      return { goarch: process.arch, scmp: "" };
  }
}

/** "6.18.44-fc" >= "4.8" */
export function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string): number[] =>
    v
      .split(/[.-]/)
      .slice(0, 3)
      .map((p) => Number.parseInt(p, 10) || 0);
  const [a, b] = [parse(kernel), parse(min)];
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

function stringList(field: string, v: unknown, pattern: RegExp): string[] {
  if (!Array.isArray(v) || !v.every((s): s is string => typeof s === "string" && pattern.test(s))) {
    throw invalidArgument(field, `must be a list of names matching ${pattern.source}`);
  }
  return v;
}

function errnoValue(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 4095) throw invalidArgument(field, "must be an errno between 0 and 4095");
  return v;
}

function parseArg(field: string, v: unknown): OciSeccompArg {
  if (!isObject(v)) throw invalidArgument(field, "must be an object");
  const u64 = (name: string, x: unknown): number => {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0) throw invalidArgument(`${field}.${name}`, "must be a non-negative integer");
    return x;
  };
  const index = u64("index", v.index);
  if (index > 5) throw invalidArgument(`${field}.index`, "a syscall has at most 6 arguments (0-5)");
  if (typeof v.op !== "string" || !OPERATORS.has(v.op)) throw invalidArgument(`${field}.op`, `"${String(v.op).slice(0, 40)}" is not a SCMP_CMP_ operator`);
  return { index, value: u64("value", v.value), ...(v.valueTwo !== undefined ? { valueTwo: u64("valueTwo", v.valueTwo) } : {}), op: v.op as SeccompOperator };
}

interface Conditions {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

function parseConditions(field: string, v: unknown): Conditions | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw invalidArgument(field, "must be an object");
  const out: Conditions = {};
  if (v.caps !== undefined) out.caps = stringList(`${field}.caps`, v.caps, CAP_NAME);
  if (v.arches !== undefined) out.arches = stringList(`${field}.arches`, v.arches, /^[a-z0-9_]{1,32}$/);
  if (v.minKernel !== undefined) {
    if (typeof v.minKernel !== "string" || !/^\d+\.\d+(\.\d+)?$/.test(v.minKernel)) throw invalidArgument(`${field}.minKernel`, "must look like 4.8");
    out.minKernel = v.minKernel;
  }
  return out;
}

/**
 * Parses and shape-checks a profile (OCI's linux.seccomp or Docker's format,
 * with names/name, archMap and includes/excludes). Arch and kernel conditions
 * are settled here for this host; cap conditions stay in the rules for
 * resolveSeccomp. Every refusal names `field` (or a path under it).
 */
export function parseSeccompProfile(field: string, text: string, host = { ...hostArches(), kernel: release() }): SeccompProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(field, `is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(doc)) throw invalidArgument(field, "must hold a JSON object");
  if (typeof doc.defaultAction !== "string" || !ACTIONS.has(doc.defaultAction)) {
    throw invalidArgument(`${field}.defaultAction`, `"${String(doc.defaultAction).slice(0, 40)}" is not one of ${[...ACTIONS].join(", ")}`);
  }
  if (doc.listenerPath !== undefined) throw invalidArgument(`${field}.listenerPath`, "seccomp notify is not supported");
  let architectures = doc.architectures === undefined ? [] : stringList(`${field}.architectures`, doc.architectures, ARCH_NAME);
  if (doc.archMap !== undefined) {
    if (!Array.isArray(doc.archMap)) throw invalidArgument(`${field}.archMap`, "must be a list");
    for (const [i, entry] of doc.archMap.entries()) {
      if (!isObject(entry) || typeof entry.architecture !== "string" || !ARCH_NAME.test(entry.architecture)) {
        throw invalidArgument(`${field}.archMap[${i}].architecture`, "must be a SCMP_ARCH_ name");
      }
      const subs = entry.subArchitectures === undefined ? [] : stringList(`${field}.archMap[${i}].subArchitectures`, entry.subArchitectures, ARCH_NAME);
      // As Docker: only this host's entry counts.
      if (entry.architecture === host.scmp) architectures = [...new Set([...architectures, entry.architecture, ...subs])];
    }
  }
  const flags = doc.flags === undefined ? undefined : stringList(`${field}.flags`, doc.flags, /^SECCOMP_FILTER_FLAG_[A-Z_]+$/);
  flags?.forEach((f, i) => {
    if (!FLAGS.has(f)) throw invalidArgument(`${field}.flags[${i}]`, `"${f}" is not one of ${[...FLAGS].join(", ")}`);
  });
  if (doc.syscalls !== undefined && !Array.isArray(doc.syscalls)) throw invalidArgument(`${field}.syscalls`, "must be a list");
  const syscalls: SeccompRule[] = [];
  for (const [i, entry] of ((doc.syscalls ?? []) as unknown[]).entries()) {
    const at = `${field}.syscalls[${i}]`;
    if (!isObject(entry)) throw invalidArgument(at, "must be an object");
    const names =
      entry.names !== undefined
        ? stringList(`${at}.names`, entry.names, SYSCALL_NAME)
        : typeof entry.name === "string" && SYSCALL_NAME.test(entry.name)
          ? [entry.name]
          : undefined;
    if (!names || names.length === 0) throw invalidArgument(`${at}.names`, "a rule needs syscall names");
    if (typeof entry.action !== "string" || !ACTIONS.has(entry.action))
      throw invalidArgument(`${at}.action`, `"${String(entry.action).slice(0, 40)}" is not a SCMP_ACT_ action`);
    if (entry.args !== undefined && entry.args !== null && !Array.isArray(entry.args)) throw invalidArgument(`${at}.args`, "must be a list");
    const args = ((entry.args ?? []) as unknown[]).map((a, j) => parseArg(`${at}.args[${j}]`, a));
    const includes = parseConditions(`${at}.includes`, entry.includes);
    const excludes = parseConditions(`${at}.excludes`, entry.excludes);
    if (includes?.arches && includes.arches.length > 0 && !includes.arches.includes(host.goarch)) continue;
    if (excludes?.arches?.includes(host.goarch)) continue;
    if (includes?.minKernel && !kernelAtLeast(host.kernel, includes.minKernel)) continue;
    if (excludes?.minKernel && kernelAtLeast(host.kernel, excludes.minKernel)) continue;
    const errnoRet = errnoValue(`${at}.errnoRet`, entry.errnoRet);
    syscalls.push({
      names,
      action: entry.action as SeccompAction,
      ...(errnoRet !== undefined ? { errnoRet } : {}),
      ...(args.length > 0 ? { args } : {}),
      ...(includes?.caps && includes.caps.length > 0 ? { includesCaps: includes.caps } : {}),
      ...(excludes?.caps && excludes.caps.length > 0 ? { excludesCaps: excludes.caps } : {}),
    });
  }
  const defaultErrnoRet = errnoValue(`${field}.defaultErrnoRet`, doc.defaultErrnoRet);
  return {
    defaultAction: doc.defaultAction as SeccompAction,
    ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
    architectures,
    ...(flags ? { flags } : {}),
    syscalls,
  };
}

/** Reads and checks a profile file; INVALID_ARGUMENT naming `field` when it is missing or malformed. */
export async function loadSeccompProfile(field: string, path: string): Promise<SeccompProfile> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_PROFILE_BYTES) throw invalidArgument(field, `"${path.slice(0, 80)}" is larger than ${MAX_PROFILE_BYTES} bytes`);
    text = buf.toString("utf8");
  } catch (err) {
    if (err instanceof HullError) throw err;
    throw invalidArgument(field, `cannot read "${path.slice(0, 80)}": ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseSeccompProfile(field, text);
}
