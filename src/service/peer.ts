// Who is calling. On the unix socket: the peer process's pid, uid and gid,
// learned from the kernel once per connection. On TCP: the subject of the
// client's TLS certificate. Both go on every RPC's span.
//
// Node has no SO_PEERCRED, so hulld owns the unix listener and, for each
// accepted connection, finds the client's end in the kernel's socket table
// (`ss -xpn`, iproute2 over sock_diag: each unix socket's inode, its peer's
// inode and the processes holding it), then reads uid/gid from /proc/PID/status.
//
// Mapping a call to its connection uses only grpc-js's public API: a call's
// getPeer() is "remoteAddress:remotePort" of the connection's socket, which
// for unix sockets are both undefined (every call reads "unknown"). hulld
// gives each accepted socket its own pair (`unix:<path>`, a serial number), so
// getPeer() names the connection and keys the table below. (The other routes
// need private fields: grpc-js's http2 stream behind the call object.)
//
// Unlike SO_PEERCRED this reports the process holding the client's socket
// when the lookup runs, not the one that called connect(): after a fork both
// are listed (the first is taken), and a client gone before the lookup gets
// no attributes, which is why a connection's first call waits for the lookup.
import { execFile } from "node:child_process";
import { fstatSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import type { ServerUnaryCall } from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import type { Logger } from "pino";

/** What every kind of server call offers about its connection. */
export type PeerCall = Pick<ServerUnaryCall<unknown, unknown>, "getPeer" | "getAuthContext">;

export interface UnixPeer {
  pid: number;
  /** Effective uid and gid of the process, as SO_PEERCRED would report. */
  uid: number;
  gid: number;
}

/**
 * How long the first call on a unix connection waits for the peer lookup
 * (later calls find it done). Waiting matters: a short-lived client (the hull
 * CLI: connect, one call, exit) would otherwise be gone, and its socket with
 * it, before the lookup runs. One `ss` run takes 20-200 ms here, by load.
 */
const PEER_WAIT_MS = 500;
const SS_MAX_OUTPUT = 64 * 1024 * 1024;
/** Concurrent `ss` runs at most; more lookups queue and share the next run. */
const MAX_SS_RUNS = 2;

interface UnixConnection {
  lookup: Promise<UnixPeer | undefined>;
  /** Set once the lookup settled (undefined peer: the kernel could not tell). */
  settled?: { peer: UnixPeer | undefined };
}

/** getPeer() of a live unix connection → its peer lookup. */
const unixConnections = new Map<string, UnixConnection>();
let connectionSerial = 0;

/** Number of unix connections currently tracked (for tests: the table must not leak). */
export function trackedUnixConnections(): number {
  return unixConnections.size;
}

/** The accepted socket's file descriptor, from net.Socket's handle (not in Node's typings). */
function socketFd(socket: Socket): number | undefined {
  const handle: unknown = Reflect.get(socket, "_handle");
  if (typeof handle !== "object" || handle === null || !("fd" in handle)) return undefined;
  const fd = handle.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/**
 * Registers a just-accepted unix connection before it is handed to grpc-js:
 * names it (see above) and starts the peer lookup. Must run synchronously in
 * the accept callback, while the fd surely is this connection's.
 */
export function adoptUnixConnection(socket: Socket, listenPath: string, resolver: UnixPeerResolver): void {
  const serial = ++connectionSerial;
  const address = `unix:${listenPath}`;
  Object.defineProperty(socket, "remoteAddress", { value: address, configurable: true });
  Object.defineProperty(socket, "remotePort", { value: serial, configurable: true });
  const key = `${address}:${serial}`;
  const fd = socketFd(socket);
  // fstat of a socket fd gives the socket's inode: the number ss lists it by.
  const inode = fd === undefined ? undefined : fstatSync(fd).ino;
  const conn: UnixConnection = { lookup: inode === undefined ? Promise.resolve(undefined) : resolver.lookup(inode) };
  void conn.lookup.then((peer) => (conn.settled = { peer }));
  unixConnections.set(key, conn);
  socket.once("close", () => unixConnections.delete(key));
}

/**
 * Looks up the processes at the other end of accepted unix sockets. Lookups
 * of one tick share an `ss` run, and at most MAX_SS_RUNS run at once; lookups
 * that arrive meanwhile share the next run, so a burst of connections costs a
 * few runs, not one process each.
 */
export class UnixPeerResolver {
  private pending = new Map<number, Array<(peer: UnixPeer | undefined) => void>>();
  private scheduled = false;
  private running = 0;
  private warned = false;

  constructor(private readonly log: Logger) {}

  lookup(serverInode: number): Promise<UnixPeer | undefined> {
    return new Promise((resolve) => {
      const waiting = this.pending.get(serverInode) ?? [];
      waiting.push(resolve);
      this.pending.set(serverInode, waiting);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= MAX_SS_RUNS || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.running++;
      void this.run()
        .catch((err: unknown) => this.log.error({ err }, "unix peer lookup failed"))
        .finally(() => {
          this.running--;
          this.schedule();
        });
    });
  }

  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    let pids = new Map<number, number>();
    try {
      pids = clientPids(await runSs(), new Set(batch.keys()));
    } catch (err) {
      if (!this.warned) {
        this.warned = true;
        this.log.warn({ err }, "cannot list unix socket peers with `ss -xpn` (package iproute2): spans carry no hull.peer.pid/uid/gid");
      }
    }
    await Promise.all(
      [...batch].map(async ([inode, waiting]) => {
        const pid = pids.get(inode);
        const peer = pid === undefined ? undefined : await processIds(pid);
        for (const resolve of waiting) resolve(peer);
      }),
    );
  }
}

function runSs(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("ss", ["-xpnH"], { maxBuffer: SS_MAX_OUTPUT }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/**
 * From `ss -xpnH` lines ("u_str ESTAB 0 0 LOCAL LINODE PEER PINODE users:((...,pid=N,fd=M))"),
 * the pid holding the socket whose peer is one of `serverInodes`: the client's end.
 * A socket shared by several processes (fork) lists them all; the first is taken.
 */
export function clientPids(ssOutput: string, serverInodes: Set<number>): Map<number, number> {
  const found = new Map<number, number>();
  for (const line of ssOutput.split("\n")) {
    const users = line.indexOf(" users:(");
    if (users < 0) continue;
    const fields = line.slice(0, users).trim().split(/\s+/);
    const peerInode = Number(fields[fields.length - 1]);
    if (!serverInodes.has(peerInode) || found.has(peerInode)) continue;
    const pid = /pid=(\d+)/.exec(line.slice(users));
    if (pid) found.set(peerInode, Number(pid[1]));
  }
  return found;
}

async function processIds(pid: number): Promise<UnixPeer | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, "utf8");
  } catch {
    // The client exited between the socket listing and now: nothing to record.
    return undefined;
  }
  // "Uid:\treal\teffective\tsaved\tfs"
  const effective = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+\\d+\\s+(\\d+)`, "m").exec(status);
    return m ? Number(m[1]) : undefined;
  };
  const uid = effective("Uid");
  const gid = effective("Gid");
  return uid === undefined || gid === undefined ? undefined : { pid, uid, gid };
}

function subjectCN(call: PeerCall): string | undefined {
  const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  if (Array.isArray(cn)) return cn.join(",");
  return cn;
}

function setUnixPeer(span: Span, peer: UnixPeer | undefined): void {
  if (!peer || !span.isRecording()) return;
  span.setAttribute("hull.peer.pid", peer.pid);
  span.setAttribute("hull.peer.uid", peer.uid);
  span.setAttribute("hull.peer.gid", peer.gid);
}

/**
 * Puts the caller on the span: net.transport, and hull.peer.pid/uid/gid (unix)
 * or hull.peer.subject (TLS). Await it before serving the call: it settles at
 * once when the peer is known, else within PEER_WAIT_MS (a later answer still
 * lands on the span while it is open).
 */
export function recordPeer(span: Span, call: PeerCall): Promise<void> {
  const key = call.getPeer();
  const unix = unixConnections.get(key);
  if (!unix) {
    const auth = call.getAuthContext();
    if (auth.transportSecurityType === "ssl") {
      span.setAttribute("net.transport", "ip_tcp");
      // getPeer() is "ADDR:PORT" for TCP (IPv6 addresses contain colons, the port follows the last one).
      const colon = key.lastIndexOf(":");
      if (colon > 0) {
        span.setAttribute("net.sock.peer.addr", key.slice(0, colon).replace(/^\[|\]$/g, ""));
        span.setAttribute("net.sock.peer.port", Number(key.slice(colon + 1)));
      }
      const cn = subjectCN(call);
      if (cn !== undefined) span.setAttribute("hull.peer.subject", cn);
    }
    return Promise.resolve();
  }
  span.setAttribute("net.transport", "unix");
  if (unix.settled) {
    setUnixPeer(span, unix.settled.peer);
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, PEER_WAIT_MS);
    timer.unref();
    void unix.lookup.then((peer) => {
      clearTimeout(timer);
      setUnixPeer(span, peer);
      resolve();
    });
  });
}
