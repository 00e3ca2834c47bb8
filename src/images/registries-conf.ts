// Registry mirrors and rewrites, as air-gapped clusters need them: the
// `[[registry]]` tables of containers-registries.conf(5) (version 2), the
// file CRI-O and Podman read, so an existing one can be pointed at with
// `--registries-conf`. Per entry: `prefix` (host[:port][/namespace…] or
// `*.domain`), `location` (what the prefix is rewritten to), `insecure`
// (plain HTTP), `blocked`, `mirror-by-digest-only`, and `[[registry.mirror]]`
// tables tried in order before the location. The longest matching prefix
// wins, as in containers/image. Short-name settings are accepted and
// ignored: references are normalised the docker/CRI way (docker.io).
import { readFile } from "node:fs/promises";
import { parse as parseToml } from "smol-toml";
import { HullError } from "../errors.js";
import { DOCKER_HUB, repositoryOf, type ImageName } from "../domain/reference.js";

export interface MirrorEntry {
  location: string;
  insecure: boolean;
}

export interface RegistryEntry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEntry[];
}

export interface RegistriesConfig {
  /** The file it came from ("" = none given). */
  source: string;
  registries: RegistryEntry[];
}

/** Where one pull attempt goes: a registry host and the repository path on it. */
export interface Endpoint {
  host: string;
  path: string;
  insecure: boolean;
  /** A mirror rather than the (possibly rewritten) location itself. */
  mirror: boolean;
}

export const NO_REGISTRIES: RegistriesConfig = { source: "", registries: [] };

/** Top-level keys of registries.conf that hull reads no meaning from (short names resolve to docker.io here). */
const IGNORED_TOP_LEVEL = new Set(["unqualified-search-registries", "short-name-mode", "aliases", "credential-helpers", "additional-layer-store-auth-helper"]);
const REGISTRY_KEYS = new Set(["prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "pull-from-mirror", "mirror"]);
const MIRROR_KEYS = new Set(["location", "insecure", "pull-from-mirror"]);
const LOCATION = /^[a-zA-Z0-9.-]+(?::[0-9]+)?(?:\/[a-z0-9._/-]+)?$/;
const WILDCARD = /^\*\.[a-zA-Z0-9.-]+$/;

function bad(source: string, where: string, message: string): HullError {
  return new HullError("INVALID_ARGUMENT", `registries config ${source}: ${where}: ${message}`, { field: "registries-conf", file: source });
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function boolean(source: string, where: string, table: Record<string, unknown>, key: string): boolean {
  const v = table[key];
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw bad(source, where, `"${key}" must be true or false`);
  return v;
}

function unknownKeys(source: string, where: string, table: Record<string, unknown>, known: Set<string>): void {
  const extra = Object.keys(table).filter((k) => !known.has(k));
  if (extra.length > 0) throw bad(source, where, `unknown key(s) ${extra.map((k) => `"${k}"`).join(", ")}`);
}

function location(source: string, where: string, value: unknown, required: boolean): string {
  if (value === undefined && !required) return "";
  if (typeof value !== "string" || !LOCATION.test(value))
    throw bad(source, where, `location ${JSON.stringify(value)} must be host[:port][/path] without a scheme`);
  return value;
}

/** `pull-from-mirror` ("all", "digest-only", "tag-only") as containers/image reads it; only digest-only changes what hull does. */
function digestOnly(source: string, where: string, table: Record<string, unknown>): boolean {
  const v = table["pull-from-mirror"];
  if (v === undefined) return false;
  if (v === "all") return false;
  if (v === "digest-only") return true;
  throw bad(source, where, `pull-from-mirror ${JSON.stringify(v)} is not supported (use "all" or "digest-only")`);
}

function parseEntry(source: string, index: number, table: Record<string, unknown>): RegistryEntry {
  const where = `[[registry]] #${index + 1}`;
  unknownKeys(source, where, table, REGISTRY_KEYS);
  const loc = location(source, where, table.location, table.prefix === undefined);
  const prefix = table.prefix === undefined ? loc : table.prefix;
  if (typeof prefix !== "string" || !(LOCATION.test(prefix) || WILDCARD.test(prefix)))
    throw bad(source, where, `prefix ${JSON.stringify(prefix)} is not host[:port][/path] or *.domain`);
  if (WILDCARD.test(prefix) && loc !== "") throw bad(source, where, `a wildcard prefix (${prefix}) cannot be rewritten to a location`);
  const mirrorsRaw = table.mirror ?? [];
  if (!Array.isArray(mirrorsRaw)) throw bad(source, where, "mirror must be an array of tables ([[registry.mirror]])");
  const mirrors = mirrorsRaw.map((m: unknown, j: number): MirrorEntry => {
    const mw = `${where} mirror #${j + 1}`;
    if (!isTable(m)) throw bad(source, mw, "must be a table");
    unknownKeys(source, mw, m, MIRROR_KEYS);
    digestOnly(source, mw, m);
    return { location: location(source, mw, m.location, true), insecure: boolean(source, mw, m, "insecure") };
  });
  return {
    prefix,
    location: loc,
    insecure: boolean(source, where, table, "insecure"),
    blocked: boolean(source, where, table, "blocked"),
    mirrorByDigestOnly: boolean(source, where, table, "mirror-by-digest-only") || digestOnly(source, where, table),
    mirrors,
  };
}

/** Parses a registries.conf text; every mistake is refused naming the file and the entry. */
export function parseRegistriesConfig(text: string, source: string): RegistriesConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw bad(source, "TOML", err instanceof Error ? err.message.split("\n")[0] : String(err));
  }
  unknownKeys(source, "top level", doc, new Set([...IGNORED_TOP_LEVEL, "registry"]));
  const raw = doc.registry ?? [];
  if (!Array.isArray(raw)) throw bad(source, "registry", "must be an array of tables ([[registry]])");
  const registries = raw.map((t: unknown, i: number) => {
    if (!isTable(t)) throw bad(source, `[[registry]] #${i + 1}`, "must be a table");
    return parseEntry(source, i, t);
  });
  const seen = new Set<string>();
  for (const r of registries) {
    if (seen.has(r.prefix)) throw bad(source, `prefix ${r.prefix}`, "appears twice");
    seen.add(r.prefix);
  }
  return { source, registries };
}

export async function loadRegistriesConfig(path: string | undefined): Promise<RegistriesConfig> {
  if (path === undefined || path === "") return NO_REGISTRIES;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new HullError(
      "INVALID_ARGUMENT",
      `registries config ${path}: ${err instanceof Error ? err.message : String(err)}`,
      { field: "registries-conf" },
      { cause: err },
    );
  }
  return parseRegistriesConfig(text, path);
}

/** How well prefix matches repository ("domain/path"): its length, undefined for no match. Wildcards rank below every exact prefix. */
function matchScore(prefix: string, repository: string, domain: string): number | undefined {
  if (prefix.startsWith("*.")) return domain.endsWith(prefix.slice(1)) ? prefix.length - 1000 : undefined;
  return repository === prefix || repository.startsWith(`${prefix}/`) ? prefix.length : undefined;
}

export function matchRegistry(config: RegistriesConfig, name: ImageName): RegistryEntry | undefined {
  const repository = repositoryOf(name);
  let best: { entry: RegistryEntry; score: number } | undefined;
  for (const entry of config.registries) {
    const score = matchScore(entry.prefix, repository, name.domain);
    if (score !== undefined && (best === undefined || score > best.score)) best = { entry, score };
  }
  return best?.entry;
}

/** Docker Hub's API is not served on docker.io itself. */
function apiHost(host: string): string {
  return host === DOCKER_HUB ? "registry-1.docker.io" : host;
}

function endpointAt(rewritten: string, insecure: boolean, mirror: boolean): Endpoint {
  const slash = rewritten.indexOf("/");
  return { host: apiHost(rewritten.slice(0, slash)), path: rewritten.slice(slash + 1), insecure, mirror };
}

/**
 * The endpoints a pull of name tries, in order: the matching entry's mirrors
 * (for tags too unless mirror-by-digest-only), then its location. Blocked
 * registries are refused. `insecure` (the request's own flag) applies to the
 * location, as hull.v1's PullImage has always meant it.
 */
export function endpointsFor(config: RegistriesConfig, name: ImageName, insecure: boolean): Endpoint[] {
  const repository = repositoryOf(name);
  const entry = matchRegistry(config, name);
  if (entry === undefined) return [endpointAt(repository, insecure, false)];
  if (entry.blocked)
    throw new HullError("REGISTRY_BLOCKED", `pulls from ${entry.prefix} are blocked by ${config.source} (needed for ${repository})`, {
      registry: entry.prefix,
    });
  const wildcard = entry.prefix.startsWith("*.");
  const rewrite = (loc: string): string => (wildcard ? `${loc}/${name.path}` : `${loc}${repository.slice(entry.prefix.length)}`);
  const out: Endpoint[] = [];
  if (!entry.mirrorByDigestOnly || name.digest !== undefined) {
    for (const m of entry.mirrors) out.push(endpointAt(rewrite(m.location), m.insecure, true));
  }
  out.push(endpointAt(entry.location === "" ? repository : rewrite(entry.location), entry.insecure || insecure, false));
  return out;
}
