// In-process notifications: every saved state change and every recorded
// exit, so Wait and Stop are driven by events instead of polling.
import { EventEmitter } from "node:events";
import type { ContainerRecord } from "../store/record.js";
import type { Event } from "../gen/hull/v1/container.js";

export class StateBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per waiting client; the count is bounded by open calls.
    this.emitter.setMaxListeners(0);
  }

  publish(rec: ContainerRecord): void {
    this.emitter.emit(`state:${rec.id}`, rec);
    this.emitter.emit("state", rec);
  }

  removed(id: string): void {
    this.emitter.emit(`removed:${id}`);
    this.emitter.emit("removed", id);
  }

  /** Every saved change of every container, and every removal: for hulld's own watchers (the log rotator). */
  subscribeAll(onState: (rec: ContainerRecord) => void, onRemoved: (id: string) => void): () => void {
    this.emitter.on("state", onState);
    this.emitter.on("removed", onRemoved);
    return () => {
      this.emitter.off("state", onState);
      this.emitter.off("removed", onRemoved);
    };
  }

  /**
   * Calls onState for each saved change of the container until the returned
   * function is called; onRemoved when the container is removed.
   */
  subscribe(id: string, onState: (rec: ContainerRecord) => void, onRemoved: () => void): () => void {
    this.emitter.on(`state:${id}`, onState);
    this.emitter.on(`removed:${id}`, onRemoved);
    return () => {
      this.emitter.off(`state:${id}`, onState);
      this.emitter.off(`removed:${id}`, onRemoved);
    };
  }

  /** Every lifecycle event, after it is stored (so it carries its sequence). */
  publishEvent(ev: Event): void {
    this.emitter.emit("event", ev);
  }

  subscribeEvents(onEvent: (ev: Event) => void): () => void {
    this.emitter.on("event", onEvent);
    return () => {
      this.emitter.off("event", onEvent);
    };
  }

  /** Live event subscribers: lets tests prove a closed stream left no listener behind. */
  eventListenerCount(): number {
    return this.emitter.listenerCount("event");
  }
}
