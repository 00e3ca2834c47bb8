// The streaming server's request cache: Exec, Attach and PortForward answer a
// URL naming a token, and the client's connection to that URL redeems it, as
// the kubelet's streaming server (k8s.io/kubelet/pkg/cri/streaming) does
// behind CRI-O and containerd. A token is random, good once, and for
// TOKEN_TTL_MS; at most MAX_IN_FLIGHT wait at a time, so a client asking for
// URLs it never uses cannot grow hulld without bound.
import { randomBytes } from "node:crypto";
import { HullError } from "../../errors.js";

/** The kubelet's streaming server keeps requests for one minute. */
export const TOKEN_TTL_MS = 60_000;
/** The kubelet's maxInFlight. */
export const MAX_IN_FLIGHT = 1000;
/** 16 random bytes, base64url: 22 characters. */
const TOKEN = /^[A-Za-z0-9_-]{22}$/;

export interface ExecTarget {
  kind: "exec";
  containerId: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface AttachTarget {
  kind: "attach";
  containerId: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface PortForwardTarget {
  kind: "portforward";
  podId: string;
  /** The ports the request named; empty = any the client asks for. */
  ports: number[];
}

export type StreamTarget = ExecTarget | AttachTarget | PortForwardTarget;

export class RequestCache {
  private readonly entries = new Map<string, { target: StreamTarget; expires: number }>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly maxInFlight = MAX_IN_FLIGHT,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new single-use token for target. */
  insert(target: StreamTarget): string {
    this.prune();
    if (this.entries.size >= this.maxInFlight) {
      throw new HullError(
        "RESOURCE_EXHAUSTED",
        `the streaming server has ${this.entries.size} unused ${target.kind} URLs waiting (at most ${this.maxInFlight}); use or let them expire (${this.ttlMs / 1000} s) first`,
      );
    }
    const token = randomBytes(16).toString("base64url");
    this.entries.set(token, { target, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The target, removed from the cache; undefined for an unknown, used or expired token. */
  consume(token: string): StreamTarget | undefined {
    if (!TOKEN.test(token)) return undefined;
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    return entry.expires > this.now() ? entry.target : undefined;
  }

  get size(): number {
    this.prune();
    return this.entries.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (entry.expires <= now) this.entries.delete(token);
  }
}
