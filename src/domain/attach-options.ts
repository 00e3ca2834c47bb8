// What one attach asks for, once its request is checked: the gRPC open
// message (parseAttachOpen) or Docker's HTTP query (src/validation/requests.ts),
// run by src/ops/attach.ts. A plain value; it lives here so both may name it.

export interface AttachOptions {
  /** The container: full id, unique id prefix or name. */
  ref: string;
  /** Undefined: the streams were not named, so all of them (stdin only if the container has it). */
  streams?: { stdin: boolean; stdout: boolean; stderr: boolean };
  /** The parsed sequence (src/domain/detach-keys.ts); empty: no detaching. */
  detachKeys: Buffer;
  logs: boolean;
  stream: boolean;
  start: boolean;
  recursive: boolean;
}
