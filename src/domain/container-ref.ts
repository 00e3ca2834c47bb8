// Container references: a full id, a unique id prefix or a name, as the
// store keys and resolves them. Pure. Requests are held to this rule by
// src/validation/ (checkContainerRef in rules.ts is this one); the store
// applies it too, as the bound of its key space: a reference with "/" in it
// would scan other keys.
import { invalidArgument, shown } from "../errors.js";

export const FULL_ID = /^[0-9a-f]{64}$/;
/** Names, ids and prefixes: the store's key limit. */
export const MAX_REF_LENGTH = 253;
const REF_CHARS = /^[A-Za-z0-9_.-]+$/;

/** A container reference: full id, unique id prefix or name. */
export function checkContainerRef(field: string, ref: string): void {
  if (ref === "") throw invalidArgument(field, "a container id or name is required");
  if (ref.length > MAX_REF_LENGTH) throw invalidArgument(field, `${shown(ref)} is longer than ${MAX_REF_LENGTH} characters`);
  if (!REF_CHARS.test(ref)) throw invalidArgument(field, `${shown(ref)} is not a container id, id prefix or name (letters, digits, "_", "." and "-")`);
}
