// A TCP connection to a port inside a pod's network namespace, for the CRI's
// PortForward. A thread cannot enter a network namespace in Node, so a relay
// process does: `nsenter --net=PIN socat TCP4:127.0.0.1:PORT UNIX-CONNECT:S`
// connects to the port inside the pinned namespace first (a refusal ends it
// there, with socat's reason), then to a unix socket hulld listens on for
// this one connection (a path on the host's filesystem, reachable from any
// network namespace). hulld thus holds a real socket with TCP's half-close:
// the port's EOF reaches the client at once, and the client's EOF is passed
// on while the answer keeps coming. The kubelet's dockershim relayed with
// nsenter + socat over stdio instead, where socat holds stdout open until
// stdin ends; CRI-O and containerd dial from a thread inside the namespace.
// A pod on the host's network is dialled directly.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";

const PATH_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
/**
 * socat's wait for the other direction once one has ended (its -t): the
 * client may half-close and still read a long answer. The relay ends with
 * the connection, or is killed with it.
 */
const HALF_CLOSE_WAIT_S = 3600;
const MAX_STDERR = 4096;

export interface PortConnection {
  /** Both directions, half-close included (allowHalfOpen). */
  readonly socket: Socket;
  destroy(): void;
}

/** What socat or nsenter said, without its timestamp, pid and level ("2026/12/07 11:57:12 socat[12] E connect(...): Connection refused"). */
export function dialFailure(stderr: string, exitCode: number | null, signal: string | null): string {
  const line = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .pop();
  if (line === undefined) return signal !== null ? `the relay was killed (${signal})` : `the relay exited with status ${String(exitCode)}`;
  const socat = /(?:^|\s)socat\[\d+\] [EFW] (.*)$/.exec(line);
  if (socat?.[1] !== undefined) {
    const text = socat[1];
    const connectFailed = /^connect\(\d+, AF=\d+ ([^,]+), \d+\): (.*)$/.exec(text);
    return connectFailed ? `dial tcp4 ${connectFailed[1]}: ${connectFailed[2]?.toLowerCase()}` : text;
  }
  if (/failed to execute socat/.test(line)) return `${line} (install socat: scripts/setup.sh does)`;
  return line;
}

function hostConnection(port: number): Promise<PortConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    socket.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(`dial tcp4 127.0.0.1:${port}: ${err.code === "ECONNREFUSED" ? "connection refused" : err.message}`)),
    );
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      socket.setNoDelay(true);
      resolve({ socket, destroy: () => socket.destroy() });
    });
  });
}

async function namespaceConnection(netns: string, port: number, socketDir: string): Promise<PortConnection> {
  const path = join(socketDir, `pf-${randomBytes(8).toString("hex")}.sock`);
  const server = createServer({ allowHalfOpen: true });
  // Born 0600 in hulld's own socket dir: only the relay (root) connects.
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(previous);
  }
  const child = spawn("nsenter", [`--net=${netns}`, "--", "socat", "-t", String(HALF_CLOSE_WAIT_S), `TCP4:127.0.0.1:${port}`, `UNIX-CONNECT:${path}`], {
    env: PATH_ENV,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < MAX_STDERR) stderr += chunk.toString("utf8");
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  try {
    const socket = await new Promise<Socket>((resolve, reject) => {
      server.once("connection", resolve);
      child.once("error", (err) => reject(new Error(`cannot run nsenter: ${err.message}`)));
      child.once("close", (code, signal) => reject(new Error(dialFailure(stderr, code, signal))));
    });
    // The relay ends with the connection (its death closes the socket by itself).
    socket.once("close", kill);
    return {
      socket,
      destroy: () => {
        socket.destroy();
        kill();
      },
    };
  } catch (err) {
    kill();
    throw err;
  } finally {
    server.close();
    await rm(path, { force: true });
  }
}

/** Connects to 127.0.0.1:port in the namespace pinned at netns (the relay's unix socket in socketDir), or on the host when netns is undefined; rejects with why it could not. */
export function connectPodPort(netns: string | undefined, port: number, socketDir: string): Promise<PortConnection> {
  return netns === undefined ? hostConnection(port) : namespaceConnection(netns, port, socketDir);
}
