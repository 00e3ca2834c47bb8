// A client of conmon's attach socket (containers/conmon 2.1.6, src/conn_sock.c
// and ctr_stdio.c), and the writer of its control FIFO (src/ctrl.c).
//
// The attach socket is AF_UNIX SOCK_SEQPACKET. conmon writes each chunk it
// reads from the container as one packet: a stream byte (2 = stdout, 3 =
// stderr; a tty's output is all stdout) and up to 8192 bytes. Every packet a
// client sends is written to the container's stdin. conmon reads a packet with
// read(fd, buf, 32768): a packet longer than that would be truncated, and a
// zero-length one reads as end of file, so stdin goes out in non-empty chunks
// of at most STDIN_PACKET bytes. When conmon reads end of file (the client
// shut down its write side, or closed) it closes the container's stdin if it
// runs with -i and without --leave-stdin-open; it keeps sending output to a
// half-closed client. When the container exits conmon drains its output to
// every client, closes them (the client sees end of file) and only then
// writes the exit file.
//
// Node's net module has no SOCK_SEQPACKET: node-unix-socket's prebuilt
// SeqpacketSocket is used (connect, packet-preserving 'data', write with a
// completion callback, end() = shutdown(SHUT_WR)). It reads as fast as
// packets arrive, with no pause: the caller must not block on its data.
// What bounds the live path: conmon writes each packet to its attach
// clients with a blocking write_all (conn_sock.c,
// write_back_to_remote_consoles), on sockets it sizes to 32 KiB
// (set_socket_buffers; the kernel doubles it), and a unix seqpacket receiver
// queues at most net.unix.max_dgram_qlen (10 by default) packets. So conmon
// can be only some 40-60 KiB ahead of hulld: whenever hulld's event loop is
// busy or descheduled for longer than the container takes to write that
// much, conmon (and with it the container) waits. Podman's attach has the
// same coupling; it is why a start-and-attach runs slower than conmon
// writing the log alone on a loaded host, with hulld mostly idle.
// Seen in 0.2.7: it "sets" close-on-exec with F_SETFL, which does nothing,
// so children hulld spawns inherit the socket (conmon gets it shadowed by
// /dev/null, see strayFds in conmon.ts; runc's short runs keep it briefly).
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { SeqpacketSocket } from "node-unix-socket";
import { HullError } from "../errors.js";
import { MAX_SOCKET_PATH } from "./conmon.js";

/** The stream byte conmon puts before each output packet (ctr_stdio.c, stdpipe_t). */
export const STDOUT_BYTE = 2;
export const STDERR_BYTE = 3;

/** conmon reads up to CONN_SOCK_BUF_SIZE (32768) per packet; stay well inside it. */
export const STDIN_PACKET = 8192;

/**
 * node-unix-socket allocates (and zeroes) its whole read buffer for every
 * packet, 256 KiB by default: at conmon's packet rate that alone made hulld
 * drain the socket more slowly than conmon fills it. conmon's packets are at
 * most STDIO_BUF_SIZE (8192) + 1 bytes; a larger one would be truncated.
 * Exactly that: the buffer is allocated per packet, so every spare byte is
 * garbage made 32,000 times per 256 MiB of output.
 */
const READ_BUFFER = 8192 + 1;

import type { OutputStreamName } from "./runtime.js";

export type { OutputStreamName };

export interface AttachHandlers {
  /** One output packet, without its stream byte. */
  output(stream: OutputStreamName, data: Buffer): void;
  /** conmon closed the connection: all output has been delivered. */
  end(): void;
  error(err: Error): void;
}

/** Splits a packet from conmon into its stream and payload. */
export function decodePacket(packet: Buffer): { stream: OutputStreamName; data: Buffer } {
  if (packet.length === 0) throw new Error("empty packet from conmon's attach socket");
  const tag = packet[0];
  if (tag === STDOUT_BYTE) return { stream: "stdout", data: packet.subarray(1) };
  if (tag === STDERR_BYTE) return { stream: "stderr", data: packet.subarray(1) };
  throw new Error(`packet for unknown stream ${String(tag)} from conmon's attach socket`);
}

/** Cuts stdin into packets conmon reads whole; never an empty one (it would read as EOF). */
export function stdinPackets(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += STDIN_PACKET) out.push(data.subarray(off, off + STDIN_PACKET));
  return out;
}

/** One connection to a container's attach socket. */
export class AttachConnection {
  private readonly socket = new SeqpacketSocket();
  private closed = false;
  /** Errors while connecting reject connect() instead of reaching the handlers. */
  private connecting = true;
  private ended = false;
  private stdinClosed = false;
  /** Holds the directory open while connecting through /proc/self/fd (long paths). */
  private dirHandle?: { close(): Promise<void> };

  private constructor(private readonly handlers: AttachHandlers) {
    this.socket.setInternalReadBufferSize(READ_BUFFER);
    this.socket.on("data", (packet: Buffer) => {
      if (this.closed) return;
      let decoded: { stream: OutputStreamName; data: Buffer };
      try {
        decoded = decodePacket(packet);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (decoded.data.length > 0) this.handlers.output(decoded.stream, decoded.data);
    });
    this.socket.on("end", () => {
      if (this.closed || this.ended) return;
      this.ended = true;
      this.handlers.end();
    });
    this.socket.on("error", (err: Error) => this.fail(err));
  }

  /**
   * Connects to conmon's attach socket. Resolves once the connection is in
   * conmon's accept queue: conmon's main loop then accepts it before it
   * handles any later output (its listening source was added before the
   * container's stdio sources, and glib dispatches equal-priority sources in
   * that order), so a container started after this resolves loses nothing.
   */
  static async connect(socketPath: string, handlers: AttachHandlers): Promise<AttachConnection> {
    const conn = new AttachConnection(handlers);
    let target = socketPath;
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      // sun_path holds 108 bytes: go through an open fd of the directory, as conmon binds it.
      const dir = await open(dirname(socketPath), constants.O_RDONLY | constants.O_DIRECTORY);
      conn.dirHandle = dir;
      target = join(`/proc/self/fd/${dir.fd}`, basename(socketPath));
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        conn.socket.once("error", onError);
        try {
          conn.socket.connect(target, () => {
            conn.socket.off("error", onError);
            resolve();
          });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    } catch (err) {
      conn.close();
      const message = err instanceof Error ? err.message : String(err);
      throw new HullError("INTERNAL", `cannot connect to conmon's attach socket ${socketPath}: ${message}`, {}, { cause: err });
    } finally {
      await conn.dirHandle?.close();
      conn.dirHandle = undefined;
    }
    conn.connecting = false;
    return conn;
  }

  /** Writes stdin; resolves when the kernel has it (conmon reads a packet only once the last is in the container's stdin). */
  async writeStdin(data: Buffer): Promise<void> {
    if (this.closed || this.stdinClosed) return;
    for (const packet of stdinPackets(data)) {
      await new Promise<void>((resolve) => this.socket.write(packet, 0, packet.length, resolve));
      if (this.closed) return;
    }
  }

  /** Shuts down the write side: conmon closes the container's stdin (with -i) and keeps sending output. */
  closeStdin(): void {
    if (this.closed || this.stdinClosed) return;
    this.stdinClosed = true;
    this.socket.end();
  }

  /** Drops the connection; no handler is called afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.closed || this.connecting) return;
    this.close();
    this.handlers.error(err);
  }
}

/**
 * Resizes a container's terminal through conmon's control FIFO <bundle>/ctl
 * (ctrl.c: lines "TYPE HEIGHT WIDTH\n", type 1 = resize). conmon holds both
 * ends open, so a non-blocking open for writing fails only when conmon is gone.
 * One line per write: conmon's reader handles one line per read() well.
 */
/** One line to conmon's control FIFO (<bundle>/ctl): "1 H W" resizes the terminal, "2 0 0" reopens the log file (conmon's ctrl.c). */
async function writeControl(bundlePath: string, line: string): Promise<void> {
  const fifo = join(bundlePath, "ctl");
  const handle = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    await handle.write(line);
  } finally {
    await handle.close();
  }
}

export function writeResize(bundlePath: string, height: number, width: number): Promise<void> {
  return writeControl(bundlePath, `1 ${height} ${width}\n`);
}

/** Has conmon close and reopen the container's log file (after a rotation moved it away: the kubelet's ReopenContainerLog). */
export function writeReopenLog(bundlePath: string): Promise<void> {
  return writeControl(bundlePath, "2 0 0\n");
}
