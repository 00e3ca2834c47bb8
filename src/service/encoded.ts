// Responses whose protobuf bytes hulld already has. grpc-js encodes a
// handler's response with the method's responseSerialize; for a list of
// 10,000 containers that encoding was most of ListContainers' time (issue
// 12), though each Container's bytes change only when its record does. A
// handler can instead answer preEncoded(bytes): preEncodedResponses() makes
// the definition's serializers send those bytes as they are, and anything
// in-process that reads the response's fields gets them decoded on first use.
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

const ENCODED = Symbol("hull.preEncoded");

interface Decoder<T> {
  decode(bytes: Uint8Array): T;
}

function encodedBytes(value: unknown): Buffer | undefined {
  if (typeof value !== "object" || value === null || !(ENCODED in value)) return undefined;
  const bytes = (value as { [ENCODED]: unknown })[ENCODED];
  return Buffer.isBuffer(bytes) ? bytes : undefined;
}

/**
 * A message of type T whose wire form is `bytes`. Its fields are getters
 * that decode the bytes once, on first read: the serializer never reads them.
 */
export function preEncoded<T extends object>(bytes: Buffer, type: Decoder<T>): T {
  let decoded: T | undefined;
  const fields = (): T => (decoded ??= type.decode(bytes));
  const out = {} as T;
  Object.defineProperty(out, ENCODED, { value: bytes, enumerable: false });
  // The decoded empty message names every field (ts-proto fills defaults).
  for (const key of Object.keys(type.decode(new Uint8Array(0)))) {
    Object.defineProperty(out, key, { enumerable: true, get: () => fields()[key as keyof T] });
  }
  return out;
}

function sendingEncoded<Req, Res>(method: MethodDefinition<Req, Res>): MethodDefinition<Req, Res> {
  const serialize = method.responseSerialize;
  return { ...method, responseSerialize: (value: Res): Buffer => encodedBytes(value) ?? serialize(value) };
}

/** The definition with every method's response serializer sending a preEncoded() response's bytes unchanged. */
export function preEncodedResponses<T extends ServiceDefinition>(definition: T): T {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) out[name] = sendingEncoded(method as MethodDefinition<unknown, unknown>);
  return out as T;
}

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

export function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

/**
 * One length-delimited field holding an already encoded message: the tag,
 * the length, the bytes (protobuf's encoding, as ts-proto writes it). A
 * message whose only field is `repeated M field` is the concatenation of one
 * such frame per element; with a singular `M field` it is one frame.
 */
export function messageFieldFrame(field: number, message: Uint8Array): Buffer {
  const tag = field * 8 + 2;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(message.length) + message.length);
  const at = writeVarint(out, writeVarint(out, 0, tag), message.length);
  out.set(message, at);
  return out;
}
