// The event types hulld emits: the list in the proto comment on Event.type.
// Pure values: the Events request is checked against them
// (src/validation/requests.ts) and the CLI offers them.

/** Container event types: the first part of the list in the proto comment on Event.type. */
export const CONTAINER_EVENT_TYPES: readonly string[] = [
  "create",
  "init",
  "start",
  "attach",
  "stop",
  "kill",
  "pause",
  "unpause",
  "mount",
  "unmount",
  "exit",
  "restart",
  "cleanup",
  "remove",
  "exec_start",
  "exec_exit",
  "sync",
  "state",
];

/** Image event types (container_id empty, image_id set). */
export const IMAGE_EVENT_TYPES: readonly string[] = ["image_import", "image_pull", "image_tag", "image_remove"];

/** Every event type hulld emits. */
export const EVENT_TYPES: readonly string[] = [...CONTAINER_EVENT_TYPES, ...IMAGE_EVENT_TYPES];
