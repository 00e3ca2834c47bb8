// dependency-cruiser: no import cycles (between modules or between folders),
// and the layers of src/ (`npm run deps:check`). Layers, from the bottom:
//   src/gen, src/errors.ts, src/tracing.ts
//   src/domain (pure value rules), src/statemachine
//   src/validation (the rules every input is checked against)
//   src/store, src/oci (the runtime), src/images, src/network (CNI, pinned namespaces)
//   src/engine (locks, exits, intents, events)
//   src/ops (one operation per verb), then src/recovery
//   src/service (the wire), wired by src/daemon.ts and src/hulld.ts.
// src/cli is a client of the gRPC API. Type-only imports count: a layer that
// needs another's types depends on it.

/** Every import inside src/ except the listed targets. */
const srcExcept = (allowed) => ({ path: "^src/", pathNot: allowed });

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: modules that cannot be understood, tested or loaded one without the other.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-folder-cycles",
      severity: "error",
      comment: "Folders depend on each other one way only: a cycle between folders is a layering bug even when no two modules form one.",
      from: { path: "^src/" },
      to: { circular: true },
      scope: "folder",
    },
    {
      name: "no-test-or-bench-in-src",
      severity: "error",
      comment: "src/ must not import from test/ or bench/.",
      from: { path: "^src/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "cli-is-an-api-client",
      severity: "error",
      comment: "src/cli is a client of the gRPC API: it may import only src/cli/, src/gen/, src/domain/ (shared vocabulary) and src/errors.ts.",
      from: { path: "^src/cli/" },
      to: srcExcept("^src/(cli|gen|domain)/|^src/errors\\.ts$"),
    },
    {
      name: "service-is-the-wire",
      severity: "error",
      comment: "src/service (the gRPC wire) is imported only by src/daemon.ts, src/hulld.ts and itself.",
      from: { path: "^src/", pathNot: "^src/service/|^src/daemon\\.ts$|^src/hulld\\.ts$" },
      to: { path: "^src/service/" },
    },
    {
      name: "validation-layer",
      severity: "error",
      comment:
        "src/validation holds the rules (requests, configs, spec invariants): anything may consult them, and they rest only on src/domain, src/statemachine, record types, src/gen and src/errors.ts.",
      from: { path: "^src/validation/" },
      to: srcExcept("^src/(validation|domain|statemachine|gen)/|^src/store/record\\.ts$|^src/errors\\.ts$"),
    },
    {
      name: "ops-layer",
      severity: "error",
      comment: "src/ops must not import src/service, src/recovery or src/cli.",
      from: { path: "^src/ops/" },
      to: { path: "^src/(service|recovery|cli)/" },
    },
    {
      name: "recovery-layer",
      severity: "error",
      comment: "src/recovery must not import src/service or src/cli.",
      from: { path: "^src/recovery/" },
      to: { path: "^src/(service|cli)/" },
    },
    {
      name: "engine-layer",
      severity: "error",
      comment: "src/engine must not import src/ops, src/recovery, src/service, src/validation or src/cli.",
      from: { path: "^src/engine/" },
      to: { path: "^src/(ops|recovery|service|validation|cli)/" },
    },
    {
      name: "lower-layers",
      severity: "error",
      comment: "src/oci, src/images, src/network, src/store and src/statemachine must not import the layers above them.",
      from: { path: "^src/(oci|images|network|store|statemachine)/" },
      to: { path: "^src/(engine|ops|recovery|service|cli)/|^src/daemon\\.ts$" },
    },
    {
      name: "statemachine-is-pure",
      severity: "error",
      comment: "src/statemachine may import only src/statemachine/, src/store/record.ts, src/gen/ and src/errors.ts.",
      from: { path: "^src/statemachine/" },
      to: srcExcept("^src/(statemachine|gen)/|^src/store/record\\.ts$|^src/errors\\.ts$"),
    },
    {
      name: "domain-is-pure",
      severity: "error",
      comment: "src/domain (signals, references, detach keys, restart policies...) may import only src/domain/, src/gen/ and src/errors.ts.",
      from: { path: "^src/domain/" },
      to: srcExcept("^src/(domain|gen)/|^src/errors\\.ts$"),
    },
    {
      name: "store-below-oci-and-images",
      severity: "error",
      comment: "src/store must not import src/oci or src/images.",
      from: { path: "^src/store/" },
      to: { path: "^src/(oci|images)/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that does not resolve: a typo, or a module moved without its importers.",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // `import type` is a dependency too (see the top).
    tsPreCompilationDeps: true,
    // The TS config makes `./x.js` in an import resolve to ./x.ts.
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
