// PullImage's work: an OCI distribution client (manifests, blobs, bearer and
// basic auth) feeding the image store. Blobs go through BlobStore.put, which
// verifies each digest before keeping it; a failed pull is collected by the
// same guard ImportImage uses, so nothing half-written stays behind.
import { createHash } from "node:crypto";
import { Readable, Transform } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { HullError, invalidArgument } from "../errors.js";
import type { ImageRecord, ImageStore } from "./image-store.js";
import { storeLayers } from "./layer-fetch.js";
import { MT_INDEX, descriptor, guardedImport, pickManifest, readJsonBlob, recordFromConfig, type Descriptor } from "./oci-import.js";
import { parseImageName, repositoryOf, taggedName, type ImageName } from "../domain/reference.js";
import { endpointsFor, type Endpoint, type RegistriesConfig } from "./registries-conf.js";

const MAX_MANIFEST = 4 * 1024 * 1024;
const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");
const PROGRESS_BYTES = 256 * 1024;
const PROGRESS_MS = 100;

export interface PullOptions {
  username: string;
  password: string;
  /** A bearer token for the registry, as the CRI's AuthConfig.registry_token carries it; used before any challenge. */
  registryToken?: string;
  /** Plain HTTP for the registry itself (mirrors say their own in the registries config). */
  insecure: boolean;
  registries: RegistriesConfig;
  signal?: AbortSignal;
}

export interface PullProgressUpdate {
  digest: string;
  bytesDone: number;
  bytesTotal: number;
  complete: boolean;
}

function authFailed(host: string, message: string): HullError {
  return new HullError("REGISTRY_AUTH_FAILED", `registry ${host}: ${message}`, { registry: host });
}

/** Parses `Bearer realm="...",service="..."` (or `Basic realm=...`). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const sp = header.indexOf(" ");
  const scheme = (sp < 0 ? header : header.slice(0, sp)).trim().toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of (sp < 0 ? "" : header.slice(sp + 1)).matchAll(re)) params[m[1].toLowerCase()] = m[2] ?? m[3] ?? "";
  return { scheme, params };
}

class RegistryClient {
  private authorization: string | undefined;
  private readonly base: string;

  constructor(
    private readonly r: Endpoint,
    private readonly opts: PullOptions,
  ) {
    this.base = `${r.insecure ? "http" : "https"}://${r.host}/v2/${r.path}`;
    if (opts.registryToken) this.authorization = `Bearer ${opts.registryToken}`;
  }

  private basic(): string | undefined {
    if (this.opts.username === "" && this.opts.password === "") return undefined;
    return `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString("base64")}`;
  }

  private async fetch(url: string, headers: Record<string, string>): Promise<Response> {
    try {
      // fetch follows redirects (blob storage) and drops Authorization when one leaves the origin.
      return await fetch(url, { headers, redirect: "follow", signal: this.opts.signal });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
      throw new HullError(
        "UNAVAILABLE",
        `registry ${this.r.host}: ${err instanceof Error ? err.message : String(err)}${cause}`,
        { registry: this.r.host },
        { cause: err },
      );
    }
  }

  private async authenticate(challenge: string): Promise<void> {
    const { scheme, params } = parseChallenge(challenge);
    const basic = this.basic();
    if (scheme === "basic") {
      if (!basic) throw authFailed(this.r.host, "credentials required (basic auth)");
      this.authorization = basic;
      return;
    }
    if (scheme !== "bearer" || !params.realm) throw authFailed(this.r.host, `unsupported authentication challenge "${challenge.slice(0, 120)}"`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", params.scope || `repository:${this.r.path}:pull`);
    const res = await this.fetch(url.toString(), basic ? { authorization: basic } : {});
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw authFailed(this.r.host, `token endpoint refused the ${basic ? "credentials" : "anonymous request"} (HTTP ${res.status})`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new HullError("UNAVAILABLE", `registry ${this.r.host}: token endpoint answered HTTP ${res.status}`, { registry: this.r.host });
    }
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === "string" ? body.token : typeof body.access_token === "string" ? body.access_token : "";
    if (token === "") throw authFailed(this.r.host, "token endpoint returned no token");
    this.authorization = `Bearer ${token}`;
  }

  /** GET under /v2/<name>/, authenticating once on a 401; errors for any other failure. */
  async get(path: string, accept?: string): Promise<Response> {
    const url = `${this.base}/${path}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (accept) headers.accept = accept;
      if (this.authorization) headers.authorization = this.authorization;
      const res = await this.fetch(url, headers);
      if (res.ok) return res;
      await res.body?.cancel();
      if (res.status === 401 && attempt === 0) {
        await this.authenticate(res.headers.get("www-authenticate") ?? "");
        continue;
      }
      if (res.status === 401 || res.status === 403) throw authFailed(this.r.host, `access to ${this.r.path} denied (HTTP ${res.status})`);
      if (res.status === 404) throw new HullError("IMAGE_NOT_FOUND", `registry ${this.r.host}: ${this.r.path}/${path} not found`, { registry: this.r.host });
      throw new HullError("UNAVAILABLE", `registry ${this.r.host}: GET ${path} answered HTTP ${res.status}`, { registry: this.r.host });
    }
  }

  /** A manifest (or index) by tag or digest: its bytes, digest and media type, digest-checked. */
  async manifest(ref: string, expected?: Descriptor): Promise<{ bytes: Buffer; desc: Descriptor; json: Record<string, unknown> }> {
    const res = await this.get(`manifests/${ref}`, ACCEPT);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_MANIFEST) throw invalidArgument("manifest", `${bytes.length} bytes is too large`);
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const want = expected?.digest ?? (ref.startsWith("sha256:") ? ref : undefined);
    if (want !== undefined && want !== digest)
      throw new HullError("DATA_CORRUPT", `digest mismatch: expected ${want}, got ${digest}`, { field: "digest", expected: want, got: digest });
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw invalidArgument("manifest", `${ref} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const contentType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    const mediaType = typeof json.mediaType === "string" ? json.mediaType : contentType;
    return { bytes, desc: { digest, size: bytes.length, mediaType }, json };
  }
}

/** Counts bytes on their way to the blob store and reports them, throttled. */
class ProgressTap extends Transform {
  private done = 0;
  private lastBytes = 0;
  private lastAt = Date.now();
  constructor(
    private readonly d: Descriptor,
    private readonly report: (p: PullProgressUpdate) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.done += chunk.length;
    if (this.done - this.lastBytes >= PROGRESS_BYTES || Date.now() - this.lastAt >= PROGRESS_MS) {
      this.lastBytes = this.done;
      this.lastAt = Date.now();
      this.report({ digest: this.d.digest, bytesDone: this.done, bytesTotal: this.d.size, complete: false });
    }
    cb(null, chunk);
  }
}

/** The blob's bytes as the registry sends them, counted for progress when report is given. */
async function download(client: RegistryClient, d: Descriptor, report?: (p: PullProgressUpdate) => void): Promise<Readable> {
  const res = await client.get(`blobs/${d.digest}`);
  if (!res.body) throw new HullError("UNAVAILABLE", `blob ${d.digest} came without a body`);
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  if (!report) return body;
  const tap = new ProgressTap(d, report);
  // pipe() does not forward errors: a broken download must fail the put.
  body.on("error", (err) => tap.destroy(err));
  return body.pipe(tap);
}

async function fetchBlob(client: RegistryClient, store: ImageStore, d: Descriptor, report?: (p: PullProgressUpdate) => void): Promise<void> {
  if (!(await store.blobs.has(d.digest))) await store.blobs.put(await download(client, d, report), d.digest, d.size);
  report?.({ digest: d.digest, bytesDone: d.size, bytesTotal: d.size, complete: true });
}

/**
 * One layer: downloaded, hashed, kept as a blob and unpacked in one pass
 * (as containerd's unpacker reads the fetch stream), unless the store has the
 * blob already (then only unpacked, if need be) or the layer (then only the
 * blob is fetched, as gc keeps nothing a record does not name).
 */
async function fetchLayer(client: RegistryClient, store: ImageStore, d: Descriptor, diffId: string, report: (p: PullProgressUpdate) => void): Promise<string> {
  if ((await store.blobs.has(d.digest)) || (await store.hasLayer(diffId))) {
    await fetchBlob(client, store, d, report);
    return store.ensureLayer(d.digest, diffId);
  }
  const unpacked = await store.receiveLayer(await download(client, d, report), d, diffId);
  report({ digest: d.digest, bytesDone: d.size, bytesTotal: d.size, complete: true });
  return unpacked;
}

/** What a pull learnt: the record, and where it came from. */
export interface PulledImage {
  image: ImageRecord;
  /** host/path of the endpoint that served it, when that is not the reference's own registry (a mirror or a rewrite). */
  servedBy?: string;
}

/**
 * Pulls reference (docker-normalised: `busybox` is docker.io/library/busybox:latest)
 * into the store: index → linux/amd64 manifest → config → layers, under the
 * store lock. Each endpoint of the registries config is tried in turn, as
 * containers/image tries mirrors before the location; the image keeps the
 * names it was asked by (RepoTags, and RepoDigests with the top-level
 * manifest's digest), never the mirror's.
 */
export async function pullImage(store: ImageStore, reference: string, opts: PullOptions, report: (p: PullProgressUpdate) => void): Promise<PulledImage> {
  const name = parseImageName(reference, "reference");
  const endpoints = endpointsFor(opts.registries, name, opts.insecure);
  return guardedImport(store, async () => {
    const failures: string[] = [];
    for (const [i, endpoint] of endpoints.entries()) {
      try {
        const image = await pullInto(store, new RegistryClient(endpoint, opts), name, report);
        const served = `${endpoint.host}/${endpoint.path}`;
        return { image, servedBy: served === repositoryOf(name) ? undefined : served };
      } catch (err) {
        if (opts.signal?.aborted && !(err instanceof HullError))
          throw new HullError("UNAVAILABLE", `pull of ${reference} was cancelled by the client`, { registry: endpoint.host }, { cause: err });
        if (i === endpoints.length - 1 || opts.signal?.aborted) throw withAttempts(err, failures);
        failures.push(`${endpoint.host}/${endpoint.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new HullError("INTERNAL", `pull of ${reference}: no endpoint to try`);
  });
}

/** The last endpoint's error, naming the mirrors that failed before it. */
function withAttempts(err: unknown, failures: string[]): unknown {
  if (failures.length === 0 || !(err instanceof HullError)) return err;
  return new HullError(err.reason, `${err.message} (after mirror(s) failed: ${failures.join("; ")})`, err.metadata, { cause: err });
}

async function pullInto(store: ImageStore, client: RegistryClient, name: ImageName, report: (p: PullProgressUpdate) => void): Promise<ImageRecord> {
  let m = await client.manifest(name.digest ?? name.tag ?? "latest");
  const topDigest = m.desc.digest;
  for (let depth = 0; m.desc.mediaType !== undefined && MT_INDEX.includes(m.desc.mediaType); depth++) {
    if (depth > 3) throw invalidArgument("manifest", "indexes nest too deep");
    const chosen = pickManifest(m.json);
    m = await client.manifest(chosen.digest, chosen);
  }
  const manifestDesc = m.desc;
  await store.blobs.put(Readable.from([m.bytes]), manifestDesc.digest, manifestDesc.size);
  const configDesc = descriptor(m.json.config, "manifest.config");
  await fetchBlob(client, store, configDesc);
  const cfg = await readJsonBlob(store, configDesc, "config");
  const rootfs = (typeof cfg.rootfs === "object" && cfg.rootfs !== null ? cfg.rootfs : {}) as Record<string, unknown>;
  const diffIds = Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids.filter((e): e is string => typeof e === "string") : [];
  const layerDescs = Array.isArray(m.json.layers) ? m.json.layers.map((l, i) => descriptor(l, `manifest.layers[${i}]`)) : [];
  if (diffIds.length !== layerDescs.length) throw invalidArgument("config.rootfs.diff_ids", `${diffIds.length} diff ids for ${layerDescs.length} layers`);
  const layers = await storeLayers(layerDescs, diffIds, (l, diffId) => fetchLayer(client, store, l, diffId, report));
  const size = manifestDesc.size + configDesc.size + layers.reduce((n, l) => n + l.size, 0);
  const tag = taggedName(name);
  const record = recordFromConfig(cfg, configDesc.digest, manifestDesc.digest, layers, tag !== undefined ? [tag] : [], size);
  return store.commit({ ...record, repoDigests: [`${repositoryOf(name)}@${topDigest}`] });
}
