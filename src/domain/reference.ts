// Image references, after the docker reference grammar
// (distribution/reference): [domain[:port]/]path[:tag][@digest].
//
// Two normalisations live here:
// - `normalizeReference`: hull's local tag form, the reference with ":latest"
//   added when it has no tag (`hello` → `hello:latest`); what ImportImage
//   tags with and what `hull` users type for local images.
// - `parseImageName`: the docker/CRI form (ParseNormalizedNamed), which the
//   kubelet relies on: `busybox` is `docker.io/library/busybox:latest`,
//   `index.docker.io` is `docker.io`, digests `name@sha256:…` are kept.
import { invalidArgument } from "../errors.js";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MAX = 255;

/** Docker Hub's canonical domain and the namespace of its official images. */
export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_ALIASES = ["index.docker.io", "registry-1.docker.io"];
const OFFICIAL_NAMESPACE = "library";

/** A reference split into its parts; `domain` is always set, `tag` defaults to "latest" when there is no digest. */
export interface ImageName {
  domain: string;
  /** The repository path on the registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

/** Whether the first path component names a registry, as docker decides: a dot, a port, or localhost. */
function isDomain(first: string): boolean {
  return first.includes(".") || first.includes(":") || first === "localhost";
}

function checkPath(ref: string, components: string[], field: string): void {
  for (const p of components) {
    if (!COMPONENT.test(p)) throw invalidArgument(field, `"${ref}": "${p}" must be lowercase letters and digits separated by ".", "_", "__" or "-"`);
  }
}

/** Splits name[:tag][@digest], checking the tag and digest. */
function splitTagAndDigest(ref: string, field: string): { name: string; tag?: string; digest?: string } {
  const at = ref.indexOf("@");
  const named = at >= 0 ? ref.slice(0, at) : ref;
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  if (digest !== undefined && !DIGEST.test(digest)) throw invalidArgument(field, `"${ref}": digest "${digest}" must be sha256: and 64 lowercase hex digits`);
  const slash = named.lastIndexOf("/");
  const colon = named.lastIndexOf(":");
  const hasTag = colon > slash;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) throw invalidArgument(field, `"${ref}": tag "${tag}" must match ${TAG.source}`);
  return { name: hasTag ? named.slice(0, colon) : named, tag, digest };
}

function checkLength(ref: string, field: string): void {
  if (ref === "") throw invalidArgument(field, "must not be empty");
  if (ref.length > MAX) throw invalidArgument(field, `longer than ${MAX} characters`);
}

/** Returns the reference with its tag (":latest" when it has none). Digest references are not tags and are refused. */
export function normalizeReference(ref: string, field = "reference"): string {
  checkLength(ref, field);
  if (ref.includes("@")) throw invalidArgument(field, `"${ref}": digest references cannot name a tag`);
  const { name, tag } = splitTagAndDigest(ref, field);
  const parts = name.split("/");
  const first = parts[0];
  const domain = parts.length > 1 && isDomain(first);
  if (domain && !DOMAIN.test(first)) throw invalidArgument(field, `"${ref}": "${first}" is not a valid registry host`);
  checkPath(ref, domain ? parts.slice(1) : parts, field);
  return `${name}:${tag ?? "latest"}`;
}

/** The docker/CRI normalised reference: domain always set, Docker Hub's official images under library/. */
export function parseImageName(ref: string, field = "image"): ImageName {
  checkLength(ref, field);
  const { name, tag, digest } = splitTagAndDigest(ref, field);
  const parts = name.split("/");
  let domain = DOCKER_HUB;
  if (parts.length > 1 && isDomain(parts[0])) {
    domain = parts.shift() ?? DOCKER_HUB;
    if (!DOMAIN.test(domain)) throw invalidArgument(field, `"${ref}": "${domain}" is not a valid registry host`);
    if (DOCKER_HUB_ALIASES.includes(domain)) domain = DOCKER_HUB;
  }
  if (parts.length === 0 || parts.some((p) => p === "")) throw invalidArgument(field, `"${ref}": names no repository`);
  checkPath(ref, parts, field);
  if (domain === DOCKER_HUB && parts.length === 1) parts.unshift(OFFICIAL_NAMESPACE);
  return { domain, path: parts.join("/"), tag: tag ?? (digest === undefined ? "latest" : undefined), digest };
}

/** `domain/path`: the repository a tag or digest belongs to. */
export function repositoryOf(n: ImageName): string {
  return `${n.domain}/${n.path}`;
}

/** `domain/path:tag`, when the reference has a tag. */
export function taggedName(n: ImageName): string | undefined {
  return n.tag === undefined ? undefined : `${repositoryOf(n)}:${n.tag}`;
}

/** `domain/path@digest` for a digest (the reference's own, or the one the registry served). */
export function digestedName(n: ImageName, digest: string | undefined = n.digest): string | undefined {
  return digest === undefined ? undefined : `${repositoryOf(n)}@${digest}`;
}

/** The canonical string of a parsed reference: tag and digest as present. */
export function canonicalName(n: ImageName): string {
  return `${repositoryOf(n)}${n.tag !== undefined ? `:${n.tag}` : ""}${n.digest !== undefined ? `@${n.digest}` : ""}`;
}
