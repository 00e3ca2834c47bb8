// A small OCI distribution registry for tests: Node http on 127.0.0.1 with a
// bearer-token flow (401 challenge → token endpoint checking basic
// credentials → Authorization: Bearer), blobs served through a redirect.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { sha256 } from "./images.js";

export interface TestRegistry {
  host: string;
  /** Adds a blob; returns its digest. */
  blob(b: Buffer): string;
  /** Serves a manifest (or index) under its digest and, when given, a tag. */
  manifest(name: string, body: Buffer, mediaType: string, tag?: string): string;
  /** Digests whose blob is served with one byte flipped. */
  corrupt: Set<string>;
  /** Every request path, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** scheme "basic" answers with a Basic challenge and checks credentials on every request instead. */
export async function startRegistry(user: string, pass: string, scheme: "bearer" | "basic" = "bearer"): Promise<TestRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; mediaType: string }>();
  const tokens = new Set<string>();
  const corrupt = new Set<string>();
  const requests: string[] = [];
  let host = "";
  const expectedBasic = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", `http://${host}`);
    requests.push(url.pathname);
    if (url.pathname === "/token") {
      if (req.headers.authorization !== expectedBasic) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED" }] }));
        return;
      }
      const token = randomBytes(16).toString("hex");
      tokens.add(token);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token }));
      return;
    }
    // The redirect target, as blob storage: no registry auth.
    const storage = /^\/storage\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (storage) {
      const b = blobs.get(storage[1]);
      if (!b) return void res.writeHead(404).end();
      const out = Buffer.from(b);
      if (corrupt.has(storage[1])) out[Math.floor(out.length / 2)] ^= 0xff;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": out.length }).end(out);
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const auth = req.headers.authorization ?? "";
    if (scheme === "basic" && auth !== expectedBasic) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="test-registry"' }).end();
      return;
    }
    if (scheme === "bearer" && (!auth.startsWith("Bearer ") || !tokens.has(auth.slice(7)))) {
      res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${m[1]}:pull"` }).end();
      return;
    }
    if (m[2] === "blobs") {
      if (!blobs.has(m[3])) return void res.writeHead(404).end();
      res.writeHead(307, { location: `/storage/${m[3]}` }).end();
      return;
    }
    const man = manifests.get(`${m[1]}:${m[3]}`);
    if (!man) return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN" }] }));
    res.writeHead(200, { "content-type": man.mediaType, "docker-content-digest": sha256(man.body) }).end(man.body);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    blob(b) {
      const d = sha256(b);
      blobs.set(d, b);
      return d;
    },
    manifest(name, body, mediaType, tag) {
      const d = sha256(body);
      manifests.set(`${name}:${d}`, { body, mediaType });
      if (tag) manifests.set(`${name}:${tag}`, { body, mediaType });
      return d;
    },
    corrupt,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** Publishes an image behind an index under name:tag; returns its digests. */
export function publishImage(
  reg: TestRegistry,
  name: string,
  tag: string,
  layers: { blob: Buffer; diffId: string }[],
): { layerDigests: string[]; configDigest: string; manifestDigest: string } {
  const layerDigests = layers.map((l) => reg.blob(l.blob));
  const cfg = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["sh"], Env: ["PULLED=1"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDigest = reg.blob(cfg);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: cfg.length },
      layers: layers.map((l, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigests[i], size: l.blob.length })),
    }),
  );
  const manifestDigest = reg.manifest(name, manifest, OCI_MANIFEST);
  // The arm64 entry comes first and is never served: choosing it would fail the pull.
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: sha256(Buffer.from("arm64")), size: 5, platform: { architecture: "arm64", os: "linux" } },
        { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifest.length, platform: { architecture: "amd64", os: "linux" } },
      ],
    }),
  );
  reg.manifest(name, index, OCI_INDEX, tag);
  return { layerDigests, configDigest, manifestDigest };
}
