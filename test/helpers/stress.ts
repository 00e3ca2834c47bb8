// Counts for the long tests in test/stress/. `npm test` (and so CI) runs them
// with the bounded "ci" counts; `npm run test:stress` runs the full counts the
// issue asks for (HULL_STRESS=full). Each test states both in its call.
export type StressScale = "ci" | "full";

export function stressScale(): StressScale {
  return process.env.HULL_STRESS === "full" ? "full" : "ci";
}

/** The count for the current scale: `ci` under `npm test`, `full` under `npm run test:stress`. */
export function stressCount(ci: number, full: number): number {
  return stressScale() === "full" ? full : ci;
}
