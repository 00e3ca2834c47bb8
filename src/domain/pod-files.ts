// The files a pod's containers see as /etc/hostname, /etc/hosts and
// /etc/resolv.conf, as CRI-O and containerd write them per sandbox: the
// pod's hostname resolving to its own address, and the DNS config the
// kubelet sends (or the host's, when it sends none).

export function hostsFile(hostname: string, ips: readonly string[]): string {
  const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix"];
  const own = ips.length > 0 ? ips : ["127.0.1.1"];
  for (const ip of own) lines.push(`${ip}\t${hostname}`);
  return `${lines.join("\n")}\n`;
}

export interface DnsSettings {
  servers: readonly string[];
  searches: readonly string[];
  options: readonly string[];
}

/** resolv.conf from the kubelet's DNSConfig; undefined when it gave none (the host's file is used). */
export function resolvConf(dns: DnsSettings | undefined): string | undefined {
  if (dns === undefined || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return undefined;
  const lines = [...dns.servers.map((s) => `nameserver ${s}`)];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(" ")}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/** The longest container name hull stores (its name limit). */
const MAX_NAME = 253;

/**
 * The name CRI-O gives a pod's containers (and `POD` for its infra), unique
 * per pod attempt; where that passes hull's name limit, the pod's id stands
 * for its name, namespace and uid (it is just as unique).
 */
export function podContainerName(container: string, pod: { id: string; name: string; namespace: string; uid: string }, attempt: number): string {
  const full = `k8s_${container}_${pod.name}_${pod.namespace}_${pod.uid}_${attempt}`;
  return full.length <= MAX_NAME ? full : `k8s_${container.slice(0, MAX_NAME - 40)}_${pod.id.slice(0, 16)}_${attempt}`;
}

/** The pod's shared /dev/shm (a tmpfs mounted there unless the pod uses the host's IPC namespace). */
export function podShmPath(pod: { dir: string }): string {
  return `${pod.dir}/shm`;
}
