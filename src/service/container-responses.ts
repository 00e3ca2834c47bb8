// ListContainers' and InspectContainer's responses built from each
// Container's cached wire bytes (see encoded.ts, store/record-cache.ts): a
// record is converted and encoded once per save, not once per call.
import { Container, InspectContainerResponse, ListContainersResponse } from "../gen/hull/v1/container.js";
import type { StateStore } from "../store/store.js";
import type { ContainerRecord } from "../store/record.js";
import { toContainer } from "./convert.js";
import { messageFieldFrame, preEncoded } from "./encoded.js";

/**
 * `repeated Container containers = 1` in ListContainersResponse and
 * `Container container = 1` in InspectContainerResponse
 * (proto/hull/v1/container.proto): the same field number, so one cached
 * frame per record serves both.
 */
const CONTAINER_FIELD = 1;

export interface ContainerResponses {
  list(records: readonly ContainerRecord[]): ListContainersResponse;
  inspect(rec: ContainerRecord): InspectContainerResponse;
}

function sameRecords(a: readonly ContainerRecord[], b: readonly ContainerRecord[]): boolean {
  return a.length === b.length && a.every((rec, i) => rec === b[i]);
}

export function containerResponses(store: StateStore): ContainerResponses {
  const frames = store.derived.create((rec) => messageFieldFrame(CONTAINER_FIELD, Container.encode(toContainer(rec)).finish()));
  // The last list's bytes, reused while the same record objects come back in
  // the same order: bytes are a function of the records alone, and records
  // are replaced, never changed, so identity is equality. Pollers (the
  // kubelet's relist each second, `watch podman ps`) mostly see no change.
  let last: { records: readonly ContainerRecord[]; bytes: Buffer } | undefined;
  return {
    list: (records) => {
      if (last === undefined || !sameRecords(last.records, records)) last = { records, bytes: Buffer.concat(records.map((rec) => frames.get(rec))) };
      return preEncoded(last.bytes, ListContainersResponse);
    },
    inspect: (rec) => preEncoded(frames.get(rec), InspectContainerResponse),
  };
}
