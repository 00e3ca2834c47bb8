// The request validators (src/validation/requests.ts, image-requests.ts,
// container-config.ts) on whole requests: a refusal names the field's path in
// the request (config.env[3], operations[1].signal, ...), what is well formed is
// accepted; and requests that do not decode (wire.ts): the tolerant definition's
// marker every validator refuses. The single rules are in validation-rules.test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { BatchOperationKind, ContainerServiceService, ContainerState, Resources } from "../../src/gen/hull/v1/container.js";
import { validateContainerConfig } from "../../src/validation/container-config.js";
import * as v from "../../src/validation/requests.js";
import * as img from "../../src/validation/image-requests.js";
import { rejectUndecodable, tolerantDefinition } from "../../src/validation/wire.js";
import { accepted, config, refused } from "../helpers/validation-checks.js";

describe("request validators (pure)", () => {
  it("a container config's refusals name the field under config.", () => {
    refused(() => v.validateCreateRequest({ config: undefined }), "config");
    refused(() => validateContainerConfig(config({ env: ["A=1", "B=2", "C=3", "bad"] })), "config.env[3]");
    refused(() => validateContainerConfig(config({ command: ["sh", "a\0"] })), "config.command[1]");
    refused(() => validateContainerConfig(config({ rootfsPath: "/a/../etc" })), "config.rootfs_path");
    refused(() => validateContainerConfig(config({ image: "busybox" })), "config.rootfs_path");
    accepted(() => validateContainerConfig(config({ rootfsPath: "", image: "busybox", command: [] })));
    refused(() => validateContainerConfig(config({ rootfsPath: "", image: "../../etc" })), "config.image");
    refused(() => validateContainerConfig(config({ hostname: "a_b" })), "config.hostname");
    refused(() => validateContainerConfig(config({ stopSignal: "SIGFOO" })), "config.stop_signal");
    refused(() => validateContainerConfig(config({ stopTimeoutSeconds: 2 ** 32 - 1 })), "config.stop_timeout_seconds");
    refused(() => validateContainerConfig(config({ restartPolicy: { name: "always", maxRetries: 3 } })), "config.restart_policy.max_retries");
    refused(() => validateContainerConfig(config({ dependsOn: ["ok", "../x"] })), "config.depends_on[1]");
    refused(
      () => validateContainerConfig(config({ mounts: [{ type: "bind", source: "/tmp", destination: "rel", options: [] }] })),
      "config.mounts[0].destination",
    );
    refused(() => validateContainerConfig(config({ mounts: [{ type: "nfs", source: "/tmp", destination: "/x", options: [] }] })), "config.mounts[0].type");
    refused(
      () =>
        validateContainerConfig(
          config({ resources: Resources.fromPartial({ memoryLimitBytes: -1, cpuShares: 0, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit: 0 }) }),
        ),
      "config.resources.memory_limit_bytes",
    );
    refused(
      () =>
        validateContainerConfig(
          config({ resources: Resources.fromPartial({ memoryLimitBytes: 0, cpuShares: 2 ** 40, cpuQuotaUs: 0, cpuPeriodUs: 0, pidsLimit: 0 }) }),
        ),
      "config.resources.cpu_shares",
    );
    refused(() => validateContainerConfig(config({ networkMode: "bridge" })), "config.network_mode");
    refused(() => validateContainerConfig(config({ logMaxSizeBytes: -5 })), "config.log_max_size_bytes");
    refused(() => validateContainerConfig(config({ logMaxFiles: 2 })), "config.log_max_files");
    refused(() => validateContainerConfig(config({ logMaxSizeBytes: 4096, logMaxFiles: -1 })), "config.log_max_files");
    refused(() => validateContainerConfig(config({ logMaxSizeBytes: 4096, logMaxFiles: 65 })), "config.log_max_files");
    accepted(() => validateContainerConfig(config({ logMaxSizeBytes: 4096, logMaxFiles: 64 })));
    accepted(() =>
      validateContainerConfig(
        config({ resources: Resources.fromPartial({ memoryLimitBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: -1, cpuPeriodUs: 100_000, pidsLimit: -1 }) }),
      ),
    );
  });

  it("ContainerService requests", () => {
    refused(() => v.validateStopRequest({ id: "x", timeoutSeconds: 86_401 }), "timeout_seconds");
    accepted(() => v.validateStopRequest({ id: "x", timeoutSeconds: 0 }));
    refused(() => v.validateKillRequest({ id: "x", signal: "0" }), "signal");
    accepted(() => v.validateKillRequest({ id: "x", signal: "" }));
    refused(() => v.validateWaitRequest({ id: "x", condition: 77 as ContainerState }), "condition");
    refused(() => v.validateListRequest({ states: [ContainerState.CONTAINER_STATE_UNSPECIFIED], labels: {}, name: "", idPrefix: "" }), "states[0]");
    refused(() => v.validateBatchRequest({ id: "x", operations: [] }), "operations");
    const kill = (signal: string): { kind: BatchOperationKind; signal: string } => ({ kind: BatchOperationKind.BATCH_OPERATION_KIND_KILL, signal });
    refused(() => v.validateBatchRequest({ id: "x", operations: [kill("TERM"), kill("SIGFOO")] }), "operations[1].signal");
    refused(() => v.validateBatchRequest({ id: "x", operations: [{ kind: 42 as BatchOperationKind, signal: "" }] }), "operations[0].kind");
    refused(() => v.validatePutArtifactRequest({ id: "x", name: "../../x", data: Buffer.alloc(0) }), "name");
    refused(
      () => v.validateCheckpointRequest({ id: "x", keep: false, keepRunning: false, tcpEstablished: false, targetFile: "rel.tar", ignoreRootfs: false }),
      "target_file",
    );
    const restore = {
      id: "",
      keep: false,
      tcpEstablished: false,
      targetFile: "",
      name: "",
      ignoreRootfs: false,
      ignoreStaticIp: false,
      ignoreStaticMac: false,
    };
    refused(() => v.validateRestoreRequest(restore), "target_file");
    refused(() => v.validateRestoreRequest({ ...restore, id: "x", name: "new" }), "name");
    refused(() => v.validateRestoreRequest({ ...restore, id: "x", targetFile: "/tmp/a.tar" }), "id");
    refused(() => v.validateRestoreRequest({ ...restore, targetFile: "/tmp/a.tar", name: "bad name!" }), "name");
    const logs = { id: "x", follow: false, timestamps: false, stdout: false, stderr: false, raw: false };
    refused(() => v.validateLogsRequest({ ...logs, tail: 5_000_000 }), "tail");
    refused(() => v.validateLogsRequest({ ...logs, since: new Date(Number.NaN) }), "since");
    refused(() => v.validateLogsRequest({ ...logs, raw: true, timestamps: true }), "raw");
    accepted(() => v.validateLogsRequest({ ...logs, raw: true, tail: 3 }));
    const exec = { id: "x", command: ["sh"], env: [], workingDir: "", user: "", tty: true, stdin: true, detachKeys: "" };
    refused(() => v.validateExecOpen({ ...exec, size: { height: 0, width: 80 } }), "open.size.height");
    accepted(() => v.validateExecOpen({ ...exec, size: { height: 0, width: 0 } }));
    refused(() => v.validateExecOpen({ ...exec, detachKeys: "ctrl-" }), "open.detach_keys");
    refused(() => v.validateExecOpen({ ...exec, env: ["NOEQ"] }), "open.env[0]");
    refused(() => v.validateExecSyncRequest({ id: "x", command: ["true"], timeoutSeconds: 2 ** 31, env: [], workingDir: "", user: "" }), "timeout_seconds");
    refused(() => v.validateEventsRequest({ containers: ["ok", ""], types: [], images: [] }), "containers[1]");
    refused(() => v.validateEventsRequest({ containers: [], types: ["a\0"], images: [] }), "types[0]");
  });

  it("ImageService requests", () => {
    const src = { path: "", reference: "", format: "", sizeBytes: 0 };
    accepted(() => img.validateImportSource(src));
    refused(() => img.validateImportSource({ ...src, path: "rel/dir" }), "source.path");
    refused(() => img.validateImportSource({ ...src, reference: "Bad Ref" }), "source.reference");
    refused(() => img.validateImportSource({ ...src, format: "docker" }), "source.format");
    refused(() => img.validateImportSource({ ...src, sizeBytes: 2 ** 40 }), "source.size_bytes");
    refused(() => img.validatePullRequest({ reference: "", username: "", password: "", insecure: false }), "reference");
    refused(() => img.validatePullRequest({ reference: "localhost:5000/a", username: "a\0", password: "", insecure: false }), "username");
    refused(() => img.validateInspectImageRequest({ reference: "x".repeat(300) }), "reference");
    refused(() => img.validateRemoveImageRequest({ reference: "", force: false }), "reference");
    accepted(() => img.validateListImagesRequest({ reference: "" }));
  });
});

describe("requests that do not decode (wire.ts)", () => {
  it("a tolerant definition turns a decode failure into a marker every validator refuses", () => {
    const def = tolerantDefinition(ContainerServiceService);
    // CreateContainerRequest{config{resources{memory_limit_bytes: 2^62}}}: ts-proto cannot hold it in a number.
    const resources = new BinaryWriter()
      .uint32(8)
      .int64(2n ** 62n)
      .finish();
    const cfg = new BinaryWriter()
      .uint32((18 << 3) | 2)
      .bytes(resources)
      .finish();
    const bytes = Buffer.from(
      new BinaryWriter()
        .uint32((1 << 3) | 2)
        .bytes(cfg)
        .finish(),
    );
    assert.throws(() => ContainerServiceService.createContainer.requestDeserialize(bytes), /MAX_SAFE_INTEGER/);
    const marker = def.createContainer.requestDeserialize(bytes);
    refused(() => v.validateCreateRequest(marker), "request");
    refused(() => rejectUndecodable(def.inspectContainer.requestDeserialize(Buffer.from([0xff, 0xff, 0xff]))), "request");
    // What decodes still decodes; bidirectional streams are left as they are.
    const ok = def.inspectContainer.requestDeserialize(Buffer.from(new BinaryWriter().uint32(10).string("abc").finish()));
    assert.equal(ok.id, "abc");
    accepted(() => v.validateInspectRequest(ok));
    assert.equal(def.execContainer.requestDeserialize, ContainerServiceService.execContainer.requestDeserialize);
  });
});
