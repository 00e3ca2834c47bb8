// Space hull's state root takes on disk, measured the way du does: allocated
// blocks of what lstat sees, each inode once, never leaving the root's file
// system (a mounted overlay's merged dir would count the image's layers again).
// There is no RPC for this: the CLI reads the root directly on hulld's host.
import type { Dirent, Stats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

export interface Usage {
  /** Blobs (image manifests, configs, layer archives) plus extracted layers. */
  images: { blobBytes: number; layerBytes: number; layers: number };
  /** Containers' dirs (overlay upper dirs, checkpoints, artifacts...) without their logs. */
  containers: { count: number; bytes: number };
  /** Containers' log files (ctr.log and its rotations). */
  logs: { count: number; bytes: number };
}

/** conmon's log file and its rotations, in a container's dir. */
const isLogFile = (name: string): boolean => name === "ctr.log" || name.startsWith("ctr.log.");

/** A path that vanished between readdir and lstat: removed meanwhile, so it takes no space. */
function gone(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

async function statOrGone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (gone(err)) return undefined;
    throw new Error(`disk usage: cannot lstat ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function listOrGone(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (gone(err)) return [];
    throw new Error(`disk usage: cannot read ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** Walks trees; `skip` leaves entries out of the total and hands their size to `onSkipped`. */
class Walker {
  private readonly seen = new Set<string>();

  constructor(private readonly dev: number) {}

  /** Bytes allocated under path (itself included), or 0 when it is missing. */
  async size(path: string, skip?: (dir: string, name: string) => boolean, onSkipped?: (bytes: number) => void): Promise<number> {
    const st = await statOrGone(path);
    if (!st || st.dev !== this.dev) return 0;
    const key = `${st.dev}:${st.ino}`;
    // Hard links (layers share files with nothing else, but upper dirs may) count once.
    if (this.seen.has(key)) return 0;
    this.seen.add(key);
    let total = st.blocks * 512;
    if (!st.isDirectory()) return total;
    for (const e of await listOrGone(path)) {
      const child = join(path, e.name);
      if (skip?.(path, e.name)) {
        onSkipped?.(await this.size(child));
        continue;
      }
      total += await this.size(child, skip, onSkipped);
    }
    return total;
  }
}

/** Measures the state root; a missing root or subdir counts as empty. */
export async function diskUsage(root: string): Promise<Usage> {
  const rootStat = await lstat(root).catch((err: unknown) => {
    throw new Error(`disk usage: cannot read the state root ${root}: ${(err as Error).message}`, { cause: err });
  });
  const walker = new Walker(rootStat.dev);
  const imagesDir = join(root, "images");
  const layersDir = join(imagesDir, "layers");
  const usage: Usage = {
    images: {
      blobBytes: await walker.size(join(imagesDir, "blobs")),
      layerBytes: await walker.size(layersDir),
      layers: (await listOrGone(layersDir)).filter((e) => e.isDirectory() && !e.name.startsWith(".")).length,
    },
    containers: { count: 0, bytes: 0 },
    logs: { count: 0, bytes: 0 },
  };
  const containersDir = join(root, "containers");
  for (const e of await listOrGone(containersDir)) {
    if (!e.isDirectory()) continue;
    usage.containers.count++;
    const dir = join(containersDir, e.name);
    usage.containers.bytes += await walker.size(
      dir,
      // Only the top level of a container's dir holds its logs: a ctr.log in its rootfs is the container's.
      (parent, name) => parent === dir && isLogFile(name),
      (bytes) => {
        usage.logs.count++;
        usage.logs.bytes += bytes;
      },
    );
  }
  return usage;
}
