// A real OCI distribution registry for tests and benchmarks: Debian's
// `docker-registry` (CNCF distribution 2.8) serving from a temp dir on
// 127.0.0.1, no auth, delete enabled. skopeo pushes OCI layouts into it.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { createServer, type AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const run = promisify(execFile);
export const DOCKER_REGISTRY = "/usr/bin/docker-registry";
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const MAX_OUTPUT = 64 * 1024;

export interface DockerRegistry {
  /** "127.0.0.1:PORT", as a pull reference's host. */
  host: string;
  /** The registry's storage root (rootdirectory in its config). */
  storageDir: string;
  /**
   * Pushes `oci:LAYOUT:TAG` to NAME:TAG with skopeo (format "v2s2" converts to
   * Docker's schema 2 media types); returns the pushed manifest's digest.
   */
  push(layoutDir: string, layoutTag: string, name: string, tag: string, format?: "oci" | "v2s2"): Promise<string>;
  /**
   * Replaces NAME:TAG with a one-entry (linux/amd64) Docker manifest list over
   * the manifest it names now, the shape of multi-arch upstream images (as the
   * critest kit wraps its images); returns the list's digest.
   */
  wrapInList(name: string, tag: string): Promise<string>;
  /** The manifest the registry serves for NAME:REF, parsed, with its digest. */
  manifest(name: string, ref: string): Promise<{ digest: string; json: RegistryManifest }>;
  /** Path of a blob's `data` file inside the registry's storage. */
  blobDataPath(digest: string): string;
  /** What the registry printed so far (stderr and stdout). */
  output(): string;
  /** SIGTERM, wait for the exit, delete the temp dir. */
  close(): Promise<void>;
}

export interface RegistryManifest {
  mediaType?: string;
  config: { digest: string; size: number };
  layers: { digest: string; size: number; mediaType: string }[];
}

/** A port the kernel just handed out; released again for the registry to bind. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function config(storageDir: string, port: number): string {
  return [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storageDir}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "",
  ].join("\n");
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function waitReady(base: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering /v2/: ${output()}`);
    }
    const ok = await fetch(`${base}/v2/`).then(
      async (res) => {
        await res.body?.cancel();
        return res.status === 200;
      },
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer ${base}/v2/ within ${START_TIMEOUT_MS} ms: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts a docker-registry on a free loopback port; close() stops it and deletes its dir. */
export async function startDockerRegistry(): Promise<DockerRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "hull-docker-registry-"));
  const storageDir = join(dir, "storage");
  let child: ChildProcess | undefined;
  let out = "";
  const output = (): string => out;
  try {
    const port = await freePort();
    const configPath = join(dir, "config.yml");
    await writeFile(configPath, config(storageDir, port));
    const proc = spawn(DOCKER_REGISTRY, ["serve", configPath], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    const keep = (d: Buffer): void => {
      if (out.length < MAX_OUTPUT) out += d.toString();
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    const spawnError = new Promise<never>((_, reject) => proc.once("error", (err) => reject(new Error(`cannot run ${DOCKER_REGISTRY}: ${err.message}`))));
    const host = `127.0.0.1:${port}`;
    const base = `http://${host}`;
    await Promise.race([waitReady(base, proc, output), spawnError]);

    const manifest = async (name: string, ref: string): Promise<{ digest: string; json: RegistryManifest }> => {
      const res = await fetch(`${base}/v2/${name}/manifests/${ref}`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
      });
      if (!res.ok) throw new Error(`GET manifest ${name}:${ref} answered HTTP ${res.status}: ${await res.text()}`);
      const digest = res.headers.get("docker-content-digest") ?? "";
      return { digest, json: (await res.json()) as RegistryManifest };
    };

    return {
      host,
      storageDir,
      async push(layoutDir, layoutTag, name, tag, format = "oci") {
        const args = ["copy", "--quiet", "--dest-tls-verify=false", "--format", format, `oci:${layoutDir}:${layoutTag}`, `docker://${host}/${name}:${tag}`];
        await run("skopeo", args, { maxBuffer: 1 << 20 });
        return (await manifest(name, tag)).digest;
      },
      manifest,
      async wrapInList(name, tag) {
        const MT_V2 = "application/vnd.docker.distribution.manifest.v2+json";
        const MT_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
        const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, { headers: { accept: MT_V2 } });
        if (!res.ok) throw new Error(`GET manifest ${name}:${tag} answered HTTP ${res.status}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
        const list = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MT_LIST,
            manifests: [{ mediaType: MT_V2, digest, size: bytes.length, platform: { architecture: "amd64", os: "linux" } }],
          }),
        );
        const put = await fetch(`${base}/v2/${name}/manifests/${tag}`, { method: "PUT", headers: { "content-type": MT_LIST }, body: list });
        if (put.status !== 201) throw new Error(`PUT manifest list ${name}:${tag} answered HTTP ${put.status}: ${await put.text()}`);
        return `sha256:${createHash("sha256").update(list).digest("hex")}`;
      },
      blobDataPath(digest) {
        const hex = digest.replace(/^sha256:/, "");
        return join(storageDir, "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
      },
      output,
      async close() {
        if (child && child.exitCode === null && child.signalCode === null) {
          const done = exited(child);
          child.kill("SIGTERM");
          const timer = setTimeout(() => child?.kill("SIGKILL"), STOP_TIMEOUT_MS);
          await done;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = exited(child);
      child.kill("SIGKILL");
      await done;
    }
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Names every manifest of an OCI layout's index.json `tag` (org.opencontainers.image.ref.name), as skopeo's oci:DIR:TAG needs. */
export async function tagLayout(dir: string, tag: string): Promise<void> {
  const indexPath = join(dir, "index.json");
  const index = JSON.parse(await readFile(indexPath, "utf8")) as { manifests: { annotations?: Record<string, string> }[] };
  for (const m of index.manifests) m.annotations = { ...m.annotations, "org.opencontainers.image.ref.name": tag };
  await writeFile(indexPath, JSON.stringify(index));
}
