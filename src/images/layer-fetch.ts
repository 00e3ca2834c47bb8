// Storing an image's layers: each blob is stored (verified) and unpacked
// (in the same pass for a pull), several layers at a time, as skopeo and
// containers/storage overlap them. A failure anywhere leaves nothing behind
// once the caller's guardedImport runs gc (every blob and layer no image
// record names goes); a digest listed twice is stored and unpacked once.
import type { LayerRef } from "./image-store.js";
import type { Descriptor } from "./blobs.js";

/** Layers stored at once: as skopeo (6); fewer measured slower here (bench/images.ts). */
export const LAYER_CONCURRENCY = 6;

/** fn over items, at most `limit` at a time, results in input order; the first failure rejects once all others settle. */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  // allSettled: no blob write may still run when the caller's gc starts.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
  return results;
}

/**
 * storeLayer(d, diffId) stores and verifies one layer blob, unpacks it and
 * resolves to its checked diff id: a pull streams both in one pass
 * (ImageStore.receiveLayer), an import puts a local file then unpacks it.
 */
export async function storeLayers(
  layers: readonly Descriptor[],
  diffIds: readonly string[],
  storeLayer: (d: Descriptor, diffId: string) => Promise<string>,
): Promise<LayerRef[]> {
  const stored = new Map<string, Promise<string>>();
  const storeOne = (l: Descriptor, diffId: string): Promise<string> => {
    let p = stored.get(l.digest);
    if (!p) {
      p = storeLayer(l, diffId);
      stored.set(l.digest, p);
    }
    return p;
  };
  const done = await mapConcurrent(layers, LAYER_CONCURRENCY, (l, i) => storeOne(l, diffIds[i]));
  return layers.map((l, i) => ({ digest: l.digest, diffId: done[i], size: l.size }));
}
