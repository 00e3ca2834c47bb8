// Builds a busybox root filesystem from Debian's busybox-static, as the tests
// and benchmarks need: /bin/busybox plus one link per applet.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { copyFile, mkdir, symlink, writeFile, rm, mkdtemp } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const run = promisify(execFile);
const BUSYBOX = "/bin/busybox";

/** Creates `dir` (a new temp dir when absent) holding a busybox rootfs; returns its path. */
export async function buildBusyboxRootfs(dir?: string): Promise<string> {
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (scripts/setup.sh does)`);
  }
  const root = dir ?? (await mkdtemp(join(tmpdir(), "hull-rootfs-")));
  await rm(root, { recursive: true, force: true });
  for (const sub of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "run"]) {
    await mkdir(join(root, sub), { recursive: true });
  }
  await copyFile(BUSYBOX, join(root, "bin/busybox"));
  const { stdout } = await run(BUSYBOX, ["--list"]);
  const applets = stdout
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s && s !== "busybox");
  await Promise.all(applets.map((name) => symlink("busybox", join(root, "bin", name))));
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  return root;
}
