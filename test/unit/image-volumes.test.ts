// Image volumes' decisions without a daemon: how the CRI adapter maps a
// Mount.image (containerd's rules: readonly required, no host_path), what
// hull.v1's shape check refuses ("rw", a malformed image reference), the
// CLI's --mount type=image, and how init turns a resolved volume into the
// read-only bind the OCI spec gets.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HullError } from "../../src/errors.js";
import { ContainerConfig as CriConfigFns, MountPropagation, type Mount as CriMount } from "../../src/gen/runtime/v1/api.js";
import { ContainerConfig, type Mount } from "../../src/gen/hull/v1/container.js";
import { criToHullConfig } from "../../src/service/cri/container-config.js";
import { validateMountShape } from "../../src/validation/spec-rules.js";
import { validateCreateContainer } from "../../src/validation/cri/runtime-requests.js";
import { parseMount } from "../../src/cli/parse.js";
import { imageVolumeDir, withImageVolumeSources } from "../../src/images/image-volumes.js";
import type { ContainerRecord } from "../../src/store/record.js";

const IMG = "localhost/hull-test/busybox:1";

function criMount(over: Partial<CriMount>): CriMount {
  return {
    containerPath: "/vol",
    hostPath: "",
    readonly: true,
    selinuxRelabel: false,
    propagation: MountPropagation.PROPAGATION_PRIVATE,
    uidMappings: [],
    gidMappings: [],
    recursiveReadOnly: false,
    image: { image: IMG, annotations: {}, userSpecifiedImage: IMG, runtimeHandler: "" },
    ...over,
  };
}

function mapped(m: CriMount): Mount {
  const { config } = criToHullConfig(CriConfigFns.fromPartial({ image: { image: IMG }, mounts: [m] }));
  const out = config.mounts[0];
  assert.ok(out !== undefined);
  return out;
}

/** The field an INVALID_ARGUMENT names (and its message), or fails. */
function refusal(fn: () => unknown): { field: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HullError, String(err));
    assert.equal(err.reason, "INVALID_ARGUMENT", err.message);
    return { field: err.metadata.field ?? "", message: err.message };
  }
  assert.fail("expected a refusal");
}

describe("image volumes: the CRI mapping", () => {
  it("maps Mount.image to a read-only hull.v1 image mount with its propagation", () => {
    assert.deepEqual(mapped(criMount({})), { type: "image", source: IMG, destination: "/vol", options: ["ro", "rprivate"] });
    assert.deepEqual(mapped(criMount({ propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER })).options, ["ro", "rslave"]);
  });

  it("refuses a writable image volume and one with a host_path, as containerd does", () => {
    const rw = refusal(() => mapped(criMount({ readonly: false })));
    assert.equal(rw.field, "config.mounts[0].readonly");
    assert.match(rw.message, new RegExp(`${IMG}.*/vol.*always read-only`));
    assert.equal(refusal(() => mapped(criMount({ hostPath: "/srv" }))).field, "config.mounts[0].host_path");
  });

  it("request validation takes the image instead of a host path", () => {
    const req = (m: CriMount): unknown =>
      validateCreateContainer({
        podSandboxId: "a".repeat(64),
        config: CriConfigFns.fromPartial({ metadata: { name: "c" }, image: { image: IMG }, mounts: [m] }),
        sandboxConfig: undefined,
      });
    req(criMount({}));
    assert.equal(
      refusal(() => req(criMount({ image: { image: "bad ref!", annotations: {}, userSpecifiedImage: "", runtimeHandler: "" } }))).field,
      "config.mounts[0].image.image",
    );
    assert.equal(refusal(() => req(criMount({ image: undefined }))).field, "config.mounts[0].host_path");
  });
});

describe("image volumes: hull.v1 shape and the CLI", () => {
  const shape = (m: Partial<Mount>): void => validateMountShape({ type: "image", source: IMG, destination: "/vol", options: [], ...m }, 0, "config");

  it("takes an image reference as source and read-only options", () => {
    shape({});
    shape({ options: ["ro", "nosuid", "rslave"] });
    shape({ source: "sha256:" + "a".repeat(64) });
  });

  it("refuses rw, a missing or malformed image and a relative destination, naming the field", () => {
    const rw = refusal(() => shape({ options: ["nosuid", "rw"] }));
    assert.equal(rw.field, "config.mounts[0].options[1]");
    assert.match(rw.message, /always read-only/);
    assert.equal(refusal(() => shape({ source: "" })).field, "config.mounts[0].source");
    assert.equal(refusal(() => shape({ source: "no spaces" })).field, "config.mounts[0].source");
    assert.equal(refusal(() => shape({ destination: "vol" })).field, "config.mounts[0].destination");
    assert.match(refusal(() => shape({ type: "volume" })).message, /bind, tmpfs, proc or image/);
  });

  it("--mount type=image parses Podman's spellings and refuses rw=true", () => {
    assert.deepEqual(parseMount(`type=image,source=${IMG},destination=/vol`), { type: "image", source: IMG, destination: "/vol", options: ["ro"] });
    assert.deepEqual(parseMount(`type=image,src=${IMG},target=/vol,ro`).destination, "/vol");
    assert.throws(() => parseMount(`type=image,src=${IMG},dst=/vol,rw=true`), /always read-only/);
    assert.throws(() => parseMount(`type=bind,src=/a,dst=/b`), /only type=image/);
    assert.throws(() => parseMount(`type=image,src=${IMG}`), /needs source=IMAGE and destination=PATH/);
  });
});

describe("image volumes: the spec's mounts", () => {
  const rec = (mounts: Mount[], volumes: ContainerRecord["imageVolumes"]): ContainerRecord =>
    ({ id: "f".repeat(64), config: ContainerConfig.fromPartial({ mounts }), ...(volumes ? { imageVolumes: volumes } : {}) }) as ContainerRecord;

  it("binds each resolved volume's dir read-only and leaves other mounts as they are", () => {
    const bind: Mount = { type: "bind", source: "/srv", destination: "/srv", options: ["rw"] };
    const image: Mount = { type: "image", source: IMG, destination: "/vol", options: ["ro", "nosuid"] };
    const out = withImageVolumeSources("/c", rec([bind, image], [{ mount: 1, imageId: "sha256:" + "b".repeat(64) }]));
    assert.deepEqual(out, [bind, { type: "bind", source: imageVolumeDir("/c", 1), destination: "/vol", options: ["ro", "nosuid"] }]);
  });

  it("an image mount create did not resolve is an internal error naming the container", () => {
    const image: Mount = { type: "image", source: IMG, destination: "/vol", options: [] };
    assert.throws(
      () => withImageVolumeSources("/c", rec([image], undefined)),
      (e: unknown) => e instanceof HullError && e.reason === "INTERNAL" && e.message.includes("ffffffffffff"),
    );
  });
});
