// Image references, after the docker reference grammar (simplified):
// [domain[:port]/]path[:tag], lowercase path components, tag defaulting to
// "latest". Digest references (name@sha256:...) are not tags and are refused.
import { invalidArgument } from "../errors.js";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX = 255;

/** Returns the reference with its tag (":latest" when it has none). */
export function normalizeReference(ref: string, field = "reference"): string {
  if (ref === "") throw invalidArgument(field, "must not be empty");
  if (ref.length > MAX) throw invalidArgument(field, `longer than ${MAX} characters`);
  if (ref.includes("@")) throw invalidArgument(field, `"${ref}": digest references cannot name a tag`);
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  const hasTag = colon > slash;
  const name = hasTag ? ref.slice(0, colon) : ref;
  const tag = hasTag ? ref.slice(colon + 1) : "latest";
  if (!TAG.test(tag)) throw invalidArgument(field, `"${ref}": tag "${tag}" must match ${TAG.source}`);
  const parts = name.split("/");
  // The first part is a domain when it looks like one (a dot, a port or localhost), as docker decides.
  const first = parts[0];
  const isDomain = parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (isDomain && !DOMAIN.test(first)) throw invalidArgument(field, `"${ref}": "${first}" is not a valid registry host`);
  for (const p of isDomain ? parts.slice(1) : parts) {
    if (!COMPONENT.test(p)) throw invalidArgument(field, `"${ref}": "${p}" must be lowercase letters and digits separated by ".", "_", "__" or "-"`);
  }
  return `${name}:${tag}`;
}
