// A CNI network for one test file: its own bridge (hullt + 4 hex), a private
// /24, host-local addresses kept in the test's own dir, ipMasq off and no
// default route out, so pods reach only each other and the host's end of
// the bridge (the network rule here); portmap for hostPorts. cleanup()
// deletes the bridge and the portmap chains it made.
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { randomBytes, randomInt } from "node:crypto";
import { join } from "node:path";
import { execa } from "execa";

export interface TestNetwork {
  configDir: string;
  dataDir: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** Addresses host-local still holds (a leak when no pod runs). */
  reservedIps(): Promise<string[]>;
  /** Host veths still enslaved to the bridge. */
  veths(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function makeTestNetwork(dir: string): Promise<TestNetwork> {
  const bridge = `hullt${randomBytes(2).toString("hex")}`;
  const octet = randomInt(10, 250);
  const subnet = `10.217.${octet}.0/24`;
  const gateway = `10.217.${octet}.1`;
  const configDir = join(dir, "net.d");
  const dataDir = join(dir, "cni-ipam");
  await mkdir(configDir, { recursive: true });
  await writeFile(
    join(configDir, "10-hull-test.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: `hull-test-${bridge}`,
      plugins: [
        {
          type: "bridge",
          bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet, gateway }]], dataDir },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  const ipsDir = join(dataDir, `hull-test-${bridge}`);
  return {
    configDir,
    dataDir,
    bridge,
    subnet,
    gateway,
    reservedIps: async () => (await readdir(ipsDir).catch(() => [] as string[])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)),
    veths: async () => {
      const { stdout } = await execa("ip", ["-o", "link", "show", "master", bridge], { reject: false });
      return stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => l.split(":")[1]?.trim() ?? l);
    },
    cleanup: async () => {
      await execa("ip", ["link", "del", bridge], { reject: false });
    },
  };
}

/** Lines of the nat table that mention any of ids (portmap tags its rules with the container id). */
export async function natRulesFor(ids: readonly string[]): Promise<string[]> {
  const { stdout } = await execa("iptables-save", ["-t", "nat"], { reject: false });
  return stdout.split("\n").filter((l) => ids.some((id) => l.includes(id)));
}
