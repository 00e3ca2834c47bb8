// What an exit status says, as conmon reports it.

/** Exit statuses above 128 mean death by signal (status - 128). */
export function signalOfExitCode(code: number): number {
  return code > 128 && code <= 128 + 64 ? code - 128 : 0;
}
