// The CLI's (and the benchmark's) side of the wire: a client on hulld's unix
// socket, promise wrappers for unary calls, and decoding of the daemon's
// google.rpc.Status details so callers can branch on the stable reason
// instead of parsing messages.
import { connect } from "node:net";
import { credentials, Metadata, status as GrpcStatus, type CallOptions, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { ContainerServiceClient } from "../gen/hull/v1/container.js";
import { Status } from "../gen/google/rpc/status.js";
import { ErrorInfo } from "../gen/google/rpc/error_details.js";

export const DEFAULT_SOCKET = "/run/hull/hull.sock";
export const CONNECT_TIMEOUT_MS = 10_000;

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
/** The last (fullest) overload of every generated unary method. */
export type UnaryMethod<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => ClientUnaryCall;

/** Calls a unary method as a promise; `deadlineMs` bounds the whole call when given. */
export function unary<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, deadlineMs?: number): Promise<Res> {
  const opts: Partial<CallOptions> = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  return new Promise<Res>((resolve, reject) => {
    method(req, new Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Raised when hulld cannot be reached at all, as opposed to refusing a call. */
export class ConnectError extends Error {
  constructor(
    readonly socket: string,
    readonly reason: string,
  ) {
    super(`cannot connect to hulld at ${socket}: ${reason} (is hulld running?)`);
    this.name = "ConnectError";
  }
}

const CONNECT_REASONS: Record<string, string> = {
  ENOENT: "no such socket",
  ECONNREFUSED: "connection refused",
  EACCES: "permission denied",
  ENOTSOCK: "not a socket",
};

/**
 * Opens a plain socket first: grpc-js only says "failed to connect before the
 * deadline" after retrying for the whole deadline, while the kernel tells us
 * at once why (no socket, refused, permission) and the user needs that.
 */
function probeSocket(socket: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const conn = connect({ path: socket });
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new ConnectError(socket, `no answer within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    conn.once("connect", () => {
      clearTimeout(timer);
      conn.destroy();
      resolve();
    });
    conn.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ConnectError(socket, CONNECT_REASONS[err.code ?? ""] ?? err.message));
    });
  });
}

const CLIENT_WINDOW_BYTES = 4 * 1024 * 1024;

/** Connects to hulld; rejects with ConnectError unless the channel is ready within the timeout. */
export async function connectHulld(socket: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<ContainerServiceClient> {
  const started = Date.now();
  await probeSocket(socket, timeoutMs);
  const client = new ContainerServiceClient(`unix:${socket}`, credentials.createInsecure(), {
    // Lists of 10k containers with full configs exceed the 4 MiB default.
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
    // HTTP/2's default 64 KiB window lets hulld send one window per round
    // trip to this client: `hull run`/`attach`/`logs` of fast output stalled on it.
    "grpc-node.flow_control_window": CLIENT_WINDOW_BYTES,
  });
  const deadline = started + timeoutMs;
  await new Promise<void>((resolve, reject) => {
    client.waitForReady(deadline, (err) => {
      if (!err) return resolve();
      client.close();
      reject(new ConnectError(socket, `no gRPC handshake within ${timeoutMs / 1000}s (${err.message})`));
    });
  });
  return client;
}

export interface CallFailure {
  code: number;
  /** The daemon's own message, without grpc-js's "9 FAILED_PRECONDITION:" prefix. */
  message: string;
  /** ErrorInfo.reason when the daemon sent one, e.g. CONTAINER_NOT_FOUND. */
  reason: string;
  metadata: Record<string, string>;
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && (err as Partial<ServiceError>).metadata instanceof Metadata;
}

const ERROR_INFO_TYPE = "google.rpc.ErrorInfo";

/** Describes any error from a call; reason is "" when the daemon sent no details. */
export function describeError(err: unknown): CallFailure {
  if (!isServiceError(err)) {
    return { code: GrpcStatus.UNKNOWN, message: err instanceof Error ? err.message : String(err), reason: "", metadata: {} };
  }
  const failure: CallFailure = { code: err.code, message: err.details || err.message, reason: "", metadata: {} };
  const [bin] = err.metadata.get("grpc-status-details-bin");
  if (bin instanceof Buffer) {
    try {
      const st = Status.decode(bin);
      if (st.message) failure.message = st.message;
      for (const detail of st.details) {
        if (detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1) !== ERROR_INFO_TYPE) continue;
        const info = ErrorInfo.decode(detail.value);
        failure.reason = info.reason;
        failure.metadata = info.metadata;
      }
    } catch {
      // A malformed details header must not hide the plain status message.
    }
  }
  return failure;
}
