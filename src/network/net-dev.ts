// A network namespace's interface counters, from /proc/<pid>/net/dev of a
// process inside it: the file shows the namespace of the task it is read
// through, which is how cAdvisor (and CRI-O's metrics, through procfs)
// reach a pod's network without entering the namespace. hull's pods pin
// their namespace to a file, which a Node process cannot setns into; a
// container process of the pod can be read instead.
//
// Parsing is pure (parseNetDev) so the format is unit-tested without root.
import { readFile } from "node:fs/promises";
import { HullError } from "../errors.js";

/** One interface's cumulative counters, as /proc/net/dev gives them. */
export interface NetDevCounters {
  name: string;
  rxBytes: bigint;
  rxPackets: bigint;
  rxErrors: bigint;
  rxDropped: bigint;
  txBytes: bigint;
  txPackets: bigint;
  txErrors: bigint;
  txDropped: bigint;
}

// The 16 columns after "name:": receive bytes packets errs drop fifo frame
// compressed multicast, then transmit bytes packets errs drop fifo colls
// carrier compressed.
const COLUMNS = 16;

/**
 * The interfaces of a /proc/net/dev text, in the file's order. The two
 * header lines (which hold no colon) are skipped; an interface line
 * that does not hold 16 numbers is an error, not a guess: the kernel's
 * format has not changed since 2.6, and a wrong column would be a wrong
 * metric.
 */
export function parseNetDev(text: string, file = "/proc/net/dev"): NetDevCounters[] {
  const out: NetDevCounters[] = [];
  for (const line of text.split("\n")) {
    // The name ends at the first colon: Linux refuses ':' in interface names,
    // and a wide counter may follow the colon with no space.
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (fields.length !== COLUMNS || !fields.every((f) => /^[0-9]+$/.test(f)))
      throw new HullError("INTERNAL", `${file}: the line of interface ${JSON.stringify(name)} does not hold ${COLUMNS} counters`, { file });
    const n = fields.map((f) => BigInt(f));
    const at = (i: number): bigint => n[i] ?? 0n;
    out.push({
      name,
      rxBytes: at(0),
      rxPackets: at(1),
      rxErrors: at(2),
      rxDropped: at(3),
      txBytes: at(8),
      txPackets: at(9),
      txErrors: at(10),
      txDropped: at(11),
    });
  }
  return out;
}

/**
 * The interfaces of the network namespace process pid is in. Undefined when
 * the process is gone (it exited between the listing and the read: ENOENT,
 * or ESRCH for a task being reaped); any other failure is an error naming
 * the file.
 */
export async function readNetDev(pid: number): Promise<NetDevCounters[] | undefined> {
  const file = `/proc/${pid}/net/dev`;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw new HullError("INTERNAL", `reading ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  return parseNetDev(text, file);
}
