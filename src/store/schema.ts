// What opening the state store reads before anything else: the schema
// version (refusing a newer one) and the bounds of the event history; and the
// one way a stored value is decoded (a corrupt one names its key).
import type { Level } from "level";
import { HullError } from "../errors.js";
import { EVENT_SEQ_KEY, EVT_PREFIX, SCHEMA_KEY, SCHEMA_VERSION, prefixRange, seqOfEvtKey } from "./codec.js";
import { describe } from "./util.js";

export type Db = Level<string, unknown>;

export function decodeStored<T>(key: string, value: unknown, decode: (v: unknown) => T): T {
  try {
    return decode(value);
  } catch (err) {
    throw new HullError("INTERNAL", `corrupt value under key ${key}: ${describe(err)}`, {}, { cause: err });
  }
}

export async function checkSchema(db: Db, path: string): Promise<void> {
  const version = await db.get(SCHEMA_KEY);
  if (version === undefined) {
    await db.put(SCHEMA_KEY, SCHEMA_VERSION);
    return;
  }
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new HullError("INTERNAL", `state database ${path} has an unreadable schema version ${JSON.stringify(version)}`);
  }
  if (version > SCHEMA_VERSION) {
    throw new HullError(
      "INTERNAL",
      `state database ${path} has schema version ${version}, newer than the version ${SCHEMA_VERSION} this hulld understands: run a newer hulld or use another state root`,
    );
  }
}

// The persisted counter wins over the keys, so sequences never repeat even
// if every stored event were trimmed.
export async function eventBounds(db: Db): Promise<{ first: number; last: number }> {
  const saved = await db.get(EVENT_SEQ_KEY);
  const [lastKey] = await db.keys({ ...prefixRange(EVT_PREFIX), reverse: true, limit: 1 }).all();
  const [firstKey] = await db.keys({ ...prefixRange(EVT_PREFIX), limit: 1 }).all();
  const last = Math.max(typeof saved === "number" ? saved : 0, lastKey === undefined ? 0 : seqOfEvtKey(lastKey));
  const first = firstKey === undefined ? last + 1 : seqOfEvtKey(firstKey);
  return { first, last };
}
