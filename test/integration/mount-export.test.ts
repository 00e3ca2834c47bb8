// MountContainer / UnmountContainer and ExportContainer against a real hulld:
// mount counts, the seed's refusals of the last unmount (running, paused,
// live exec sessions), force, events; an export of a rootfs holding every
// kind of file, checked with GNU tar (listing, types, modes, owners, device
// numbers, contents byte for byte); and `hull mount|unmount|umount|export`.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, link, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import {
  type ContainerServiceClient,
  ExecContainerRequest,
  type ExecContainerResponse,
  type ExportContainerResponse,
} from "../../src/gen/hull/v1/container.js";
import { checkOperation, verdict } from "../../src/statemachine/states.js";
import { EXPORT_CHUNK_BYTES } from "../../src/images/export.js";
import { daemonSuite } from "../helpers/suite.js";
import { buildBusyboxRootfs } from "../helpers/rootfs.js";
import { collectEvents } from "../helpers/event-stream.js";
import { assertGrpcError, type Api } from "../helpers/api.js";
import { IGNORE_TERM, S, SLEEP, create, createStarted, inspect, must, pending, resolved, until, waitExited } from "../helpers/fixtures.js";

const run = promisify(execFile);
const FP = grpc.status.FAILED_PRECONDITION;
const HULL_CLI = fileURLToPath(new URL("../../src/cli/hull.js", import.meta.url));

function runCli(socket: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [HULL_CLI, "--socket", socket, ...args],
      { timeout: 30_000, encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr: stderr.toString() });
      },
    );
  });
}

/** The whole ExportContainer stream, checking every chunk's size on the way. */
function exportAll(client: ContainerServiceClient, id: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const call = client.exportContainer({ id }, { deadline: Date.now() + 60_000 });
    const parts: Buffer[] = [];
    call.on("data", (res: ExportContainerResponse) => {
      if (res.chunk.length === 0 || res.chunk.length > EXPORT_CHUNK_BYTES) reject(new Error(`chunk of ${res.chunk.length} bytes`));
      parts.push(res.chunk);
    });
    call.on("error", reject);
    call.on("end", () => resolve(Buffer.concat(parts)));
  });
}

/** Opens an exec session running `sleep 100`; resolves once Inspect shows it alive. */
async function liveExec(client: ContainerServiceClient, api: Api, id: string): Promise<grpc.ClientDuplexStream<ExecContainerRequest, ExecContainerResponse>> {
  const call = client.execContainer({ deadline: Date.now() + 60_000 });
  call.on("data", () => undefined);
  call.on("error", () => undefined);
  call.write(ExecContainerRequest.fromPartial({ message: { $case: "open", value: { id, command: ["sleep", "100"] } } }));
  await until("a running exec session", async () => ((await inspect(api, id)).execSessions.some((x) => x.running) ? true : undefined));
  return call;
}

describe("mount and unmount", () => {
  const s = daemonSuite();
  const api = (): Api => s.api;

  it("counts mounts, returns the rootfs path, and unmounting an unmounted container is a no-op", async () => {
    const c = await create(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const m1 = await api().mountContainer({ id: c.id });
    assert.equal(m1.path, s.rootfs);
    assert.equal(m1.container?.mountCount, 1);
    assert.equal(m1.container?.mounted, true);
    assert.equal((await api().mountContainer({ id: c.name })).container?.mountCount, 2);
    assert.equal((await inspect(api(), c.id)).mountCount, 2);
    assert.equal((await api().unmountContainer({ id: c.id })).container?.mountCount, 1);
    const u0 = must((await api().unmountContainer({ id: c.id })).container, "unmount");
    assert.equal(u0.mountCount, 0);
    assert.equal(u0.mounted, false);
    assert.equal((await api().unmountContainer({ id: c.id })).container?.mountCount, 0, "unmount at 0");
    // force takes every mount at once.
    for (let i = 0; i < 3; i++) await api().mountContainer({ id: c.id });
    assert.equal((await api().unmountContainer({ id: c.id, force: true })).container?.mountCount, 0);

    const ev = collectEvents(s.d.client, { containers: [c.id], types: ["mount", "unmount"], since: new Date(0), until: new Date() });
    await ev.ended;
    // The no-op unmount is not an event.
    assert.deepEqual(
      ev.events.map((e) => `${e.type}:${e.attributes.mountCount}`),
      ["mount:1", "mount:2", "unmount:1", "unmount:0", "mount:1", "mount:2", "mount:3", "unmount:0"],
    );
    assert.equal(ev.events[0]?.attributes.path, s.rootfs);
    await assertGrpcError(api().mountContainer({ id: "" }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "id");
    await assertGrpcError(api().mountContainer({ id: "no-such-container" }), grpc.status.NOT_FOUND, "CONTAINER_NOT_FOUND");
  });

  it("refuses the last unmount while running or paused, even forced; allows it once stopped", async () => {
    const c = await createStarted(api(), s.rootfs, SLEEP);
    s.made.push(c.id);
    const short = c.id.slice(0, 12);
    await api().mountContainer({ id: c.id });
    await assertGrpcError(api().unmountContainer({ id: c.id }), FP, "CONTAINER_STATE_INVALID", [short, "running or paused"]);
    await assertGrpcError(api().unmountContainer({ id: c.id, force: true }), FP, "CONTAINER_STATE_INVALID", short);
    // Not the last one: allowed.
    await api().mountContainer({ id: c.id });
    assert.equal((await api().unmountContainer({ id: c.id })).container?.mountCount, 1);
    await api().pauseContainer({ id: c.id });
    await assertGrpcError(api().unmountContainer({ id: c.id }), FP, "CONTAINER_STATE_INVALID", "running or paused");
    await api().unpauseContainer({ id: c.id });
    assert.equal((await inspect(api(), c.id)).mountCount, 1, "the refusals changed nothing");
    await api().stopContainer({ id: c.id, timeoutSeconds: 0 });
    assert.equal((await api().unmountContainer({ id: c.id })).container?.mountCount, 0);
  });

  it("refuses the last unmount while an exec session is alive (a stopping container)", async () => {
    // A stop with a long timeout on a container that ignores SIGTERM holds it
    // in STOPPING with its exec alive, as in exec.test.ts.
    const c = await createStarted(api(), s.rootfs, IGNORE_TERM);
    s.made.push(c.id);
    await api().mountContainer({ id: c.id });
    const exec = await liveExec(s.d.client, api(), c.id);
    const slowStop = pending(api().stopContainer({ id: c.id, timeoutSeconds: 100 }));
    await until("STOPPING", async () => ((await inspect(api(), c.id)).state === S.CONTAINER_STATE_STOPPING ? true : undefined));
    await assertGrpcError(api().unmountContainer({ id: c.id }), FP, "EXEC_SESSIONS_ACTIVE", [c.id.slice(0, 12), "exec sessions"]);
    await assertGrpcError(api().unmountContainer({ id: c.id, force: true }), FP, "EXEC_SESSIONS_ACTIVE");
    // Mounting is fine in STOPPING; one more mount makes the next unmount not the last.
    await api().mountContainer({ id: c.id });
    assert.equal((await api().unmountContainer({ id: c.id })).container?.mountCount, 1);
    await api().stopContainer({ id: c.id, timeoutSeconds: 0 });
    await resolved(slowStop);
    exec.end();
    await waitExited(api(), c.id);
    assert.equal((await api().unmountContainer({ id: c.id })).container?.mountCount, 0);
  });

  it("refuses mount and unmount of a container being removed (pure: REMOVING lasts only inside RemoveContainer's lock)", () => {
    assert.equal(verdict(S.CONTAINER_STATE_REMOVING, "mount"), "refuse");
    assert.equal(verdict(S.CONTAINER_STATE_REMOVING, "unmount"), "refuse");
    assert.throws(
      () => checkOperation("a".repeat(64), S.CONTAINER_STATE_REMOVING, "mount"),
      /cannot mount container aaaaaaaaaaaa in state removing: it is being removed/,
    );
  });
});

describe("export", () => {
  const s = daemonSuite({ extraDirs: () => [work] });
  let work = "";
  let rootfs = "";
  let id = "";
  let sock: Server | undefined;
  const api = (): Api => s.api;
  const big = randomBytes(300 * 1024 + 17);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "hull-export-"));
    rootfs = await buildBusyboxRootfs(join(work, "rootfs"));
    const data = join(rootfs, "data");
    await mkdir(data);
    await writeFile(join(data, "file.txt"), "owned by 1000\n");
    await chmod(join(data, "file.txt"), 0o640);
    await chown(join(data, "file.txt"), 1000, 1000);
    await link(join(data, "file.txt"), join(data, "hard"));
    await symlink("file.txt", join(data, "link"));
    // Absolute and escaping symlinks are archived as links, never followed.
    await symlink("/etc/shadow", join(data, "abs"));
    await symlink("../../../../..", join(data, "up"));
    await writeFile(join(data, "big.bin"), big);
    await run("mkfifo", ["-m", "0620", join(data, "fifo")]);
    await run("mknod", ["-m", "0666", join(data, "null"), "c", "1", "3"]);
    await run("mknod", ["-m", "0600", join(data, "loop"), "b", "7", "200"]);
    await writeFile(join(data, "none"), "mode 000\n", { mode: 0o000 });
    await chmod(join(data, "none"), 0o000);
    // Ids beyond ustar's 6 octal digits travel in a pax header.
    await writeFile(join(data, "highid"), "");
    await chown(join(data, "highid"), 300000, 300001);
    await mkdir(join(data, "deep/er/still"), { recursive: true });
    await writeFile(join(data, "deep/er/still/x"), "");
    // A socket: skipped by the export (kept open so the file stays).
    sock = createServer();
    await new Promise<void>((resolve) => sock?.listen(join(data, "sock"), resolve));
    // The container writes files of its own before the export.
    const c = await create(api(), rootfs, ["sh", "-c", "echo from-container > /data/written; chmod 4755 /data/written; mkdir -p /data/made/dir"]);
    s.made.push(c.id);
    id = c.id;
    await api().startContainer({ id });
    await waitExited(api(), id);
  });

  after(async () => {
    await new Promise<void>((resolve) => (sock ? sock.close(() => resolve()) : resolve()));
  });

  it("streams a tar that GNU tar lists with the right types, modes, owners and devices, holding every file byte for byte", async () => {
    const tarball = await exportAll(s.d.client, id);
    const file = join(work, "export.tar");
    await writeFile(file, tarball);
    assert.ok(tarball.length > big.length);

    const { stdout: verbose } = await run("tar", ["--numeric-owner", "-tvf", file], { maxBuffer: 16 * 1024 * 1024 });
    const line = (name: string): string =>
      must(
        verbose.split("\n").find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `) || l.includes(` ${name} link to `)),
        `tar -tv line for ${name}`,
      );
    assert.match(line("data/file.txt"), /^-rw-r----- 1000\/1000 +14 /);
    assert.match(line("data/hard"), /^hrw-r----- 1000\/1000 +0 .* data\/hard link to data\/file\.txt$/);
    assert.match(line("data/link"), /^lrwxrwxrwx 0\/0 .* data\/link -> file\.txt$/);
    assert.match(line("data/abs"), / data\/abs -> \/etc\/shadow$/);
    assert.match(line("data/up"), / data\/up -> \.\.\/\.\.\/\.\.\/\.\.\/\.\.$/);
    assert.match(line("data/fifo"), /^prw--w---- 0\/0 /);
    assert.match(line("data/null"), /^crw-rw-rw- 0\/0 +1,3 /);
    assert.match(line("data/loop"), /^brw------- 0\/0 +7,200 /);
    assert.match(line("data/written"), /^-rwsr-xr-x 0\/0 +15 /);
    assert.match(line("data/made/dir/"), /^d/);
    assert.match(line("data/none"), /^---------- 0\/0 +9 /);
    assert.match(line("data/highid"), /^-rw-r--r-- 300000\/300001 /);
    assert.match(line("bin/sh"), / bin\/sh -> busybox$/);

    // The listing is the tree's own, but for the socket; directories end in "/".
    const { stdout: names } = await run("tar", ["-tf", file], { maxBuffer: 16 * 1024 * 1024 });
    const listed = names
      .split("\n")
      .filter((n) => n !== "")
      .map((n) => n.replace(/\/$/, ""))
      .sort();
    const { stdout: found } = await run("find", [".", "-mindepth", "1", "!", "-type", "s"], { cwd: rootfs, maxBuffer: 16 * 1024 * 1024 });
    const expected = found
      .split("\n")
      .filter((n) => n !== "")
      .map((n) => n.replace(/^\.\//, ""))
      .sort();
    assert.deepEqual(listed, expected);
    assert.ok(!listed.includes("data/sock"));

    // Extracted as root, every regular file matches the rootfs byte for byte, owner and mode too.
    const out = join(work, "extracted");
    await mkdir(out);
    await run("tar", ["--numeric-owner", "-xpf", file, "-C", out]);
    const { stdout: files } = await run("find", [".", "-type", "f"], { cwd: rootfs, maxBuffer: 16 * 1024 * 1024 });
    for (const rel of files.split("\n").filter((n) => n !== "")) {
      assert.ok((await readFile(join(out, rel))).equals(await readFile(join(rootfs, rel))), `${rel} differs`);
    }
    const stat = async (dir: string): Promise<string> =>
      (
        await run(
          "stat",
          ["-c", "%n %f %u %g %t %T %h %Y", "data/file.txt", "data/hard", "data/null", "data/loop", "data/fifo", "data/written", "data/none", "data/highid"],
          { cwd: dir },
        )
      ).stdout;
    assert.equal(await stat(out), await stat(rootfs));
    assert.equal((await readFile(join(out, "data/big.bin"))).equals(big), true);
  });

  it("hull mount, unmount, umount and export", async () => {
    const mounted = await runCli(s.d.socket, ["mount", id]);
    assert.equal(mounted.code, 0, mounted.stderr);
    assert.equal(mounted.stdout.toString(), `${rootfs}\n`);
    await runCli(s.d.socket, ["mount", id]);
    assert.equal((await inspect(api(), id)).mountCount, 2);
    const un = await runCli(s.d.socket, ["unmount", id]);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(un.stdout.toString(), `${id}\n`);
    const um = await runCli(s.d.socket, ["umount", "-f", id]);
    assert.equal(um.code, 0, um.stderr);
    assert.equal((await inspect(api(), id)).mountCount, 0);

    // The tree is unchanged since the last export: the same bytes (names are sorted).
    const viaApi = await exportAll(s.d.client, id);
    const file = join(work, "cli.tar");
    const exported = await runCli(s.d.socket, ["export", "-o", file, id]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok((await readFile(file)).equals(viaApi), "hull export -o FILE");
    const toStdout = await runCli(s.d.socket, ["export", id]);
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.ok(toStdout.stdout.equals(viaApi), "hull export > FILE");

    const missing = await runCli(s.d.socket, ["export", "-o", join(work, "none.tar"), "no-such"]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /no container/);
    await assert.rejects(readFile(join(work, "none.tar")), { code: "ENOENT" });
    await rm(file);
  });

  it("a client that stops reading holds the export mid-file; cancelling it closes every file", async () => {
    const huge = join(rootfs, "data/huge.bin");
    await writeFile(huge, Buffer.alloc(48 * 1024 * 1024, 7));
    const pid = await hulldPid(s.d.socket);
    const call = s.d.client.exportContainer({ id }, { deadline: Date.now() + 60_000 });
    const ended = new Promise<grpc.StatusObject | Error>((resolve) => {
      call.on("error", resolve);
      call.on("status", resolve);
    });
    let received = 0;
    let paused = false;
    call.on("data", (res: ExportContainerResponse) => {
      received += res.chunk.length;
      // Stop reading once inside the big file: the daemon must wait there, with the file open.
      if (received > 8 * 1024 * 1024 && !paused) {
        paused = true;
        call.pause();
      }
    });
    await until("the client to pause", async () => (paused ? true : undefined));
    // Without backpressure the daemon would read the rest (from the page cache) at once and close the file.
    await until("hulld holding huge.bin open", async () => ((await openUnder(pid, rootfs)).includes(huge) ? true : undefined));
    assert.ok(received < 48 * 1024 * 1024, `the client got ${received} bytes while paused`);
    call.cancel();
    await ended;
    await until("hulld closing every file of the rootfs", async () => ((await openUnder(pid, rootfs)).length === 0 ? true : undefined));
    assert.ok(s.d.running(), "hulld survived the cancelled export");
    await rm(huge);
    // And the container is still fine to export.
    assert.ok((await exportAll(s.d.client, id)).length > 0);
  });
});

/** The hulld serving socket (found by its command line). */
async function hulldPid(socket: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes("hulld") && cmd.split("\0").includes(socket)) return Number(entry);
  }
  assert.fail(`no hulld process for ${socket}`);
}

/** What pid has open under dir. */
async function openUnder(pid: number, dir: string): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`);
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")));
  return targets.filter((t) => t === dir || t.startsWith(`${dir}/`));
}
