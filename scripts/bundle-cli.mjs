// Bundles the built `hull` CLI (dist/src/cli/hull.js, tsc's output) into that
// same file with esbuild: one module instead of ~300 (commander, grpc-js and
// its protobufjs, the generated messages), so a start-up no longer spends a
// third of its time resolving and loading files (issue 12: `hull ps` 357 ms
// against 132 ms for a bare node). The other dist/src/cli/*.js stay for the
// benchmarks and tests that import them.
import { build } from "esbuild";

const entry = "dist/src/cli/hull.js";
try {
  await build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // grpc-js and commander are CommonJS and require() node's built-ins; an
    // ES module has no require of its own, so give the bundle one.
    banner: { js: 'import { createRequire as hullCreateRequire } from "node:module";\nconst require = hullCreateRequire(import.meta.url);' },
    logLevel: "warning",
  });
} catch (err) {
  throw new Error(`bundling ${entry}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
