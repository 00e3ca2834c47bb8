// Artifacts: small named blobs kept with a container (the seed's
// Add/Get/RemoveArtifact, plus List). They live in <containerDir>/artifacts,
// so RemoveContainer, which deletes the container dir, removes them too.
//
// Names come from the wire, so every path is built from a validated plain
// file name, no path is followed through a symlink, and writes land in the
// artifact dir only by rename(2), which never follows the target. Callers hold
// the container's lock: there is never more than one artifact call per
// container at a time, which the staging-dir cleanup below relies on.
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { HullError, invalidArgument } from "../errors.js";
import { MAX_ARTIFACT_BYTES, MAX_FILE_NAME_BYTES, checkFileName, validateArtifactData } from "../validation/rules.js";

export { MAX_ARTIFACT_BYTES, validateArtifactData };

/** Most artifacts one container may hold. */
export const MAX_ARTIFACTS_PER_CONTAINER = 256;
/** NAME_MAX on Linux file systems. */
export const MAX_ARTIFACT_NAME_BYTES = MAX_FILE_NAME_BYTES;

export const ARTIFACTS_SUBDIR = "artifacts";
// Temporary files are written beside the artifact dir rather than in it: every
// file name a temp file could have is also a valid artifact name, so keeping
// them apart means no name is reserved and List never shows a half-written file.
const STAGING_SUBDIR = ".artifacts-staging";

export interface ArtifactInfo {
  name: string;
  sizeBytes: number;
  modifiedAt: Date;
}

export function artifactDir(containerDir: string): string {
  return join(containerDir, ARTIFACTS_SUBDIR);
}

/** A short printable form of a name for messages (names may hold control bytes or be long). */
function shown(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 80 ? `${quoted.slice(0, 64)}…" (${Buffer.byteLength(name, "utf8")} bytes)` : quoted;
}

/** Throws INVALID_ARGUMENT (field "name") for anything but a plain file name (the rule is in src/validation). */
export function validateArtifactName(name: string): void {
  checkFileName("name", name);
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Whether path is a real directory (false when missing). A symlink or other
 * file there is refused: following it could read or write outside the
 * container's dir (a restored archive, say, could have planted one).
 */
async function isRealDir(path: string): Promise<boolean> {
  const st = await lstatOrUndefined(path);
  if (!st) return false;
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new HullError(
      "INTERNAL",
      `${path} is not a directory (${st.isSymbolicLink() ? "a symlink" : "another kind of file"}): refusing to use it for artifacts`,
    );
  }
  return true;
}

/** Creates dir (its parent must exist) unless present, then insists it is a real directory. */
async function ensureRealDir(path: string): Promise<void> {
  try {
    await mkdir(path, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) !== "EEXIST") throw err;
  }
  await isRealDir(path);
}

function notFound(name: string): HullError {
  return new HullError("ARTIFACT_NOT_FOUND", `no artifact named ${shown(name)}`, { artifact: name });
}

function notRegular(name: string): HullError {
  return invalidArgument("name", `${shown(name)} exists in the artifact directory but is not a regular file`);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs fn, wrapping a system error with what was being done (HullErrors pass through). */
async function doing<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HullError) throw err;
    throw new HullError("INTERNAL", `${what}: ${describe(err)}`, {}, { cause: err });
  }
}

function infoOf(name: string, st: Stats): ArtifactInfo {
  return { name, sizeBytes: st.size, modifiedAt: st.mtime };
}

/** The regular files in the artifact dir, unsorted; [] when the dir does not exist. */
async function regularNames(dir: string): Promise<string[]> {
  if (!(await isRealDir(dir))) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Stores data as the artifact `name`, replacing any artifact of that name
 * atomically: readers see the old bytes or the new, never a mix.
 */
export async function putArtifact(containerDir: string, name: string, data: Uint8Array): Promise<ArtifactInfo> {
  validateArtifactName(name);
  validateArtifactData(data);
  return doing(`put artifact ${shown(name)}`, async () => {
    if (!(await isRealDir(containerDir))) throw new HullError("INTERNAL", `container directory ${containerDir} is missing`);
    const dir = artifactDir(containerDir);
    await ensureRealDir(dir);
    const target = join(dir, name);
    const existing = await lstatOrUndefined(target);
    if (existing && !existing.isFile()) throw notRegular(name);
    if (!existing) {
      const count = (await regularNames(dir)).length;
      if (count >= MAX_ARTIFACTS_PER_CONTAINER) {
        throw new HullError(
          "RESOURCE_EXHAUSTED",
          `the container already holds ${count} artifacts, the most one container may hold (${MAX_ARTIFACTS_PER_CONTAINER}); delete one first`,
          { limit: String(MAX_ARTIFACTS_PER_CONTAINER) },
        );
      }
    }
    // Under the container lock nothing else writes here, so whatever is left
    // is a temp file from a crashed put: clear it rather than let it pile up.
    const staging = join(containerDir, STAGING_SUBDIR);
    await rm(staging, { recursive: true, force: true });
    await ensureRealDir(staging);
    const tmp = join(staging, `put-${randomBytes(8).toString("hex")}`);
    const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
    } catch (err) {
      try {
        await rm(tmp, { force: true });
      } catch (rmErr) {
        throw new Error(`${describe(err)}; removing the temp file ${tmp} also failed: ${describe(rmErr)}`, { cause: err });
      }
      throw err;
    }
    await fsyncDir(dir);
    return infoOf(name, await lstat(target));
  });
}

/** Reads the artifact `name`: ARTIFACT_NOT_FOUND when there is none. */
export async function getArtifact(containerDir: string, name: string): Promise<{ artifact: ArtifactInfo; data: Buffer }> {
  validateArtifactName(name);
  return doing(`get artifact ${shown(name)}`, async () => {
    const dir = artifactDir(containerDir);
    if (!(await isRealDir(dir))) throw notFound(name);
    const path = join(dir, name);
    const before = await lstatOrUndefined(path);
    if (!before) throw notFound(name);
    if (!before.isFile()) throw notRegular(name);
    // O_NONBLOCK: should a FIFO replace the file after the lstat, open must
    // not hang; the fstat below then refuses it.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw notRegular(name);
      if (st.size > MAX_ARTIFACT_BYTES) {
        throw new HullError("INTERNAL", `artifact ${shown(name)} is ${st.size} bytes, over the ${MAX_ARTIFACT_BYTES}-byte limit: hull did not write it`);
      }
      const data = await handle.readFile();
      return { artifact: infoOf(name, st), data };
    } finally {
      await handle.close();
    }
  });
}

/** Deletes the artifact `name`: ARTIFACT_NOT_FOUND when there is none. */
export async function deleteArtifact(containerDir: string, name: string): Promise<void> {
  validateArtifactName(name);
  await doing(`delete artifact ${shown(name)}`, async () => {
    const dir = artifactDir(containerDir);
    if (!(await isRealDir(dir))) throw notFound(name);
    const path = join(dir, name);
    const st = await lstatOrUndefined(path);
    if (!st) throw notFound(name);
    if (!st.isFile()) throw notRegular(name);
    await unlink(path);
  });
}

/** Every artifact of the container, sorted by name (UTF-8 byte order, which is code point order). */
export async function listArtifacts(containerDir: string): Promise<ArtifactInfo[]> {
  return doing("list artifacts", async () => {
    const dir = artifactDir(containerDir);
    const names = (await regularNames(dir)).sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
    const out: ArtifactInfo[] = [];
    for (const name of names) out.push(infoOf(name, await lstat(join(dir, name))));
    return out;
  });
}
