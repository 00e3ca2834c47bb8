// Pod networks through CNI plugins, executed as the CNI spec (1.0.0, and
// the 0.3/0.4 results still common) says: the network configs of a
// directory (*.conflist, *.conf, *.json, by file name; the first valid one
// is the pod network, as CRI-O and containerd pick it), each plugin of the
// list run in order for ADD with the previous result, in reverse for DEL
// with the cached result (libcni caches ADD results the same way, so a DEL
// after a restart of hulld frees exactly what ADD took), with the CNI_*
// environment, runtimeConfig for the capabilities a plugin declares
// (portMappings for portmap), and a plugin's error JSON turned into an
// error that names the plugin, the network and the pod. CHECK runs the
// cached list in order with the cached result (cni-check.ts decides when).
import { access, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../command.js";
import { HullError } from "../errors.js";
import type { PodNetwork, PodNetworkCheck, PodNetworkRequest, PodNetworkResult } from "./pod-env.js";
import { checkDecision, knownFalseFailure } from "./cni-check.js";

type Json = Record<string, unknown>;

export interface NetworkList {
  file: string;
  name: string;
  cniVersion: string;
  plugins: Json[];
  /** The list's disableCheck: runtimes must not CHECK it (absent in results cached before hull read it). */
  disableCheck?: boolean;
}

const PLUGIN_TIMEOUT_MS = 60_000;
const IFNAME = "eth0";
const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A parsed config file as a list, or the reason it is not one. */
export function parseNetworkConfig(file: string, text: string): NetworkList | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!isJson(doc)) return "not a JSON object";
  const { name, cniVersion } = doc;
  if (typeof name !== "string" || name === "") return "no name";
  if (typeof cniVersion !== "string" || cniVersion === "") return "no cniVersion";
  if (file.endsWith(".conflist")) {
    if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) return "no plugins";
    const plugins = doc.plugins.filter(isJson);
    if (plugins.length !== doc.plugins.length || plugins.some((p) => typeof p.type !== "string" || p.type === "")) return "a plugin without a type";
    // libcni reads disableCheck as a boolean; the 0.4.0 spec text calls it a string: both spellings mean it.
    const disableCheck = doc.disableCheck === true || doc.disableCheck === "true";
    return { file, name, cniVersion, plugins, disableCheck };
  }
  // A single-plugin .conf is a one-plugin list (libcni's ConfListFromConf, which carries no disableCheck).
  if (typeof doc.type !== "string" || doc.type === "") return "no type";
  return { file, name, cniVersion, plugins: [doc], disableCheck: false };
}

export async function loadNetworks(dir: string): Promise<{ networks: NetworkList[]; skipped: { file: string; reason: string }[] }> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  const networks: NetworkList[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const name of names.filter((n) => /\.(conflist|conf|json)$/.test(n)).sort()) {
    const file = join(dir, name);
    const parsed = parseNetworkConfig(file, await readFile(file, "utf8"));
    if (typeof parsed === "string") skipped.push({ file, reason: parsed });
    else networks.push(parsed);
  }
  return { networks, skipped };
}

/** The plugin binary: the first plugin dir holding an executable of that name. */
export async function findPlugin(type: string, dirs: readonly string[]): Promise<string> {
  if (type.includes("/")) throw new HullError("INVALID_ARGUMENT", `CNI plugin type "${type}" must be a plain name`);
  for (const d of dirs) {
    const path = join(d, type);
    if (
      await access(path, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  throw new HullError("UNAVAILABLE", `CNI plugin "${type}" not found in ${dirs.join(", ")}`, { plugin: type });
}

/** How errors name the pod: namespace/name and the short id. */
function podLabel(req: PodNetworkRequest): string {
  return `${req.podNamespace}/${req.podName} (${req.podId.slice(0, 12)})`;
}

/** K8S_POD_* as the kubelet's runtimes pass them; IgnoreUnknown lets plugins that know none of them run. */
export function cniArgs(req: PodNetworkRequest): string {
  return [
    `IgnoreUnknown=1`,
    `K8S_POD_NAMESPACE=${req.podNamespace}`,
    `K8S_POD_NAME=${req.podName}`,
    `K8S_POD_INFRA_CONTAINER_ID=${req.podId}`,
    `K8S_POD_UID=${req.podUid}`,
  ].join(";");
}

/** The plugin's stdin: its config with the list's name and version, the previous result, and runtimeConfig for declared capabilities. */
export function pluginInput(list: NetworkList, plugin: Json, prevResult: Json | undefined, req: PodNetworkRequest): Json {
  const caps = isJson(plugin.capabilities) ? plugin.capabilities : {};
  const runtimeConfig: Json = {};
  if (caps.portMappings === true && req.portMappings.length > 0) runtimeConfig.portMappings = req.portMappings;
  const rest: Json = { ...plugin };
  // Capabilities are for the runtime to read; the plugin gets runtimeConfig instead.
  delete rest.capabilities;
  return {
    ...rest,
    name: list.name,
    cniVersion: list.cniVersion,
    ...(prevResult !== undefined ? { prevResult } : {}),
    ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
  };
}

/** The pod's addresses from a result (1.0.0's ips, or 0.3/0.4's with a version), without prefix lengths, eth0's first. */
export function resultAddresses(result: Json): { ips: string[]; iface: string } {
  const interfaces = Array.isArray(result.interfaces) ? result.interfaces.filter(isJson) : [];
  const ips = Array.isArray(result.ips) ? result.ips.filter(isJson) : [];
  const out: string[] = [];
  let iface = "";
  for (const ip of ips) {
    if (typeof ip.address !== "string") continue;
    const idx = typeof ip.interface === "number" ? ip.interface : -1;
    const name = idx >= 0 && typeof interfaces[idx]?.name === "string" ? String(interfaces[idx].name) : "";
    const addr = ip.address.split("/")[0] ?? "";
    if (name === IFNAME || name === "") out.unshift(addr);
    else out.push(addr);
    if (iface === "" && name !== "") iface = name;
  }
  return { ips: [...new Set(out)], iface: iface || IFNAME };
}

export interface CniOptions {
  configDir: string;
  pluginDirs: string[];
  /** Where ADD results are cached for DEL (under hulld's state root). */
  cacheDir: string;
}

export class CniNetwork implements PodNetwork {
  constructor(private readonly o: CniOptions) {}

  private async network(): Promise<NetworkList | undefined> {
    return (await loadNetworks(this.o.configDir)).networks[0];
  }

  async status(): Promise<{ ready: boolean; reason: string; message: string }> {
    const { networks, skipped } = await loadNetworks(this.o.configDir);
    if (networks.length > 0) return { ready: true, reason: "", message: "" };
    const why = skipped.map((s) => `${s.file}: ${s.reason}`).join("; ");
    return { ready: false, reason: "NetworkPluginNotReady", message: `no valid CNI network config in ${this.o.configDir}${why !== "" ? ` (${why})` : ""}` };
  }

  private cachePath(list: string, podId: string): string {
    return join(this.o.cacheDir, `${list}-${podId}-${IFNAME}.json`);
  }

  private async exec(command: "ADD" | "DEL" | "CHECK", list: NetworkList, plugin: Json, input: Json, req: PodNetworkRequest): Promise<Json | undefined> {
    const type = String(plugin.type);
    const binary = await findPlugin(type, this.o.pluginDirs);
    const env = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: req.podId,
      CNI_NETNS: req.netnsPath,
      CNI_IFNAME: IFNAME,
      CNI_ARGS: cniArgs(req),
      CNI_PATH: this.o.pluginDirs.join(":"),
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    };
    const r = await runCommand(binary, [], { input: JSON.stringify(input), env, extendEnv: false, timeout: PLUGIN_TIMEOUT_MS });
    const pod = podLabel(req);
    if (r.exitCode !== 0 || r.timedOut) {
      let msg = (r.stderr || r.stdout || `exit status ${String(r.exitCode)}`).trim();
      try {
        const e = JSON.parse(r.stdout) as Json;
        if (typeof e.msg === "string") msg = `${e.msg}${typeof e.details === "string" && e.details !== "" ? `: ${e.details}` : ""} (code ${String(e.code)})`;
      } catch {
        // Not the spec's error JSON: the raw output says it.
      }
      if (r.timedOut) msg = `timed out after ${PLUGIN_TIMEOUT_MS / 1000}s`;
      const known = command === "CHECK" ? knownFalseFailure(type, msg) : "";
      if (known !== "") msg = `${msg} [${known}]`;
      throw new HullError("UNAVAILABLE", `CNI ${command} of pod ${pod} on network ${list.name}: plugin ${type} failed: ${msg}`, {
        plugin: type,
        network: list.name,
        pod: req.podId,
      });
    }
    if (command !== "ADD") return undefined;
    try {
      return JSON.parse(r.stdout) as Json;
    } catch (err) {
      throw new HullError("UNAVAILABLE", `CNI ADD of pod ${pod}: plugin ${type} printed no result JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async setUp(req: PodNetworkRequest): Promise<PodNetworkResult> {
    const list = await this.network();
    if (list === undefined) throw new HullError("UNAVAILABLE", (await this.status()).message);
    let result: Json | undefined;
    // The list name is cached first: a crash mid-ADD still lets DEL find the network.
    await mkdir(this.o.cacheDir, { recursive: true, mode: 0o700 });
    await writeFile(this.cachePath(list.name, req.podId), JSON.stringify({ list, result: null }), { mode: 0o600 });
    for (const plugin of list.plugins) result = await this.exec("ADD", list, plugin, pluginInput(list, plugin, result, req), req);
    await writeFile(this.cachePath(list.name, req.podId), JSON.stringify({ list, result: result ?? null }), { mode: 0o600 });
    const { ips, iface } = resultAddresses(result ?? {});
    return { network: list.name, ips, interface: iface };
  }

  async tearDown(req: PodNetworkRequest): Promise<void> {
    const cached = await this.cachedAdds(req.podId);
    for (const { path, list, result } of cached) {
      for (const plugin of [...list.plugins].reverse()) await this.exec("DEL", list, plugin, pluginInput(list, plugin, result, req), req);
      await rm(path, { force: true });
    }
  }

  /**
   * CNI CHECK of what ADD left: the cached list, each plugin in order with
   * the cached ADD result as prevResult (the spec's CHECK; libcni's
   * CheckNetworkList). The cached list, not today's config: CHECK asks
   * about the attachment ADD made. A plugin's failure throws, naming it.
   */
  async check(req: PodNetworkRequest): Promise<PodNetworkCheck> {
    const cached = await this.cachedAdds(req.podId);
    if (cached.length === 0 || cached.some((c) => c.result === undefined)) {
      const why = cached.length === 0 ? "it was never attached or has been detached" : "its ADD did not finish";
      throw new HullError("UNAVAILABLE", `CNI CHECK of pod ${podLabel(req)}: no cached ADD result in ${this.o.cacheDir} (${why})`, { pod: req.podId });
    }
    const current = (await loadNetworks(this.o.configDir)).networks;
    const skipped: string[] = [];
    for (const { list, result } of cached) {
      // disableCheck is honoured from today's config too: it is how an administrator silences a false failure after pods were attached.
      const disableCheck = list.disableCheck === true || current.some((n) => n.name === list.name && n.disableCheck === true);
      const decision = checkDecision({ ...list, disableCheck });
      if (decision.kind === "unsupported")
        throw new HullError("NOT_IMPLEMENTED", `CNI CHECK of pod ${podLabel(req)}: ${decision.reason}`, { pod: req.podId, network: list.name });
      if (decision.kind === "skip") skipped.push(decision.reason);
      else for (const plugin of list.plugins) await this.exec("CHECK", list, plugin, pluginInput(list, plugin, result, req), req);
    }
    return skipped.length === cached.length ? { outcome: "skipped", reason: skipped.join("; ") } : { outcome: "ok" };
  }

  /** Every cached ADD of the pod, whatever network it was (the config dir may have changed since). */
  private async cachedAdds(podId: string): Promise<{ path: string; list: NetworkList; result: Json | undefined }[]> {
    const names = await readdir(this.o.cacheDir).catch(() => [] as string[]);
    const out: { path: string; list: NetworkList; result: Json | undefined }[] = [];
    for (const name of names.filter((n) => n.endsWith(`-${podId}-${IFNAME}.json`))) {
      const path = join(this.o.cacheDir, name);
      const doc = JSON.parse(await readFile(path, "utf8")) as { list: NetworkList; result: Json | null };
      out.push({ path, list: doc.list, result: doc.result ?? undefined });
    }
    return out;
  }
}
