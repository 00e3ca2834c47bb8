// Waiting for one container's exit: subscribe to the exit watcher, then look
// for the exit file, so an exit between the two is never missed
// (containerd #6080: missed exit events make stop time out).
import type { Logger } from "pino";
import { readExitFile, type ExitWatcher } from "../oci/exits.js";

export interface ExitWaiter {
  /** Resolves with the exit code, or undefined after ms. */
  wait(ms: number): Promise<number | undefined>;
  cancel(): void;
}

export function exitWaiter(exits: ExitWatcher, exitDir: string, id: string, log: Logger): ExitWaiter {
  let settle: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    settle = resolve;
  });
  const onExit = (exitId: string, code: number): void => {
    if (exitId === id) settle(code);
  };
  exits.on("exit", onExit);
  void readExitFile(exitDir, id).then(
    (code) => {
      if (code !== undefined) settle(code);
    },
    (err: unknown) => log.error({ err, container: id }, "reading the exit file"),
  );
  return {
    async wait(ms: number) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel() {
      exits.off("exit", onExit);
    },
  };
}
