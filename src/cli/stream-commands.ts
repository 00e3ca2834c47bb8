// The commands over hulld's streams. Each area keeps its commands in its own
// file and is registered here, so hull.ts stays the lifecycle verbs only.
import type { Command } from "commander";
import type { Session } from "./session.js";
import { registerEventsCommands } from "./events-cmd.js";
import { registerLogsCommands } from "./logs-cmd.js";
import { registerExecCommands } from "./exec-cmd.js";
import { registerAttachCommands } from "./attach-cmd.js";
import { registerStorageCommands } from "./storage-cmd.js";
import { registerImageCommands } from "./image-cmd.js";
import { registerSystemCommands } from "./system-cmd.js";

export function registerStreamCommands(program: Command, session: Session): void {
  // Areas add one call each, e.g. registerLogsCommands(program, session).
  void program;
  void session;
  registerEventsCommands(program, session);
  registerLogsCommands(program, session);
  registerExecCommands(program, session);
  registerAttachCommands(program, session);
  registerStorageCommands(program, session);
  registerImageCommands(program, session);
  registerSystemCommands(program, session);
}
