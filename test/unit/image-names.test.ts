// Image references as the kubelet sends them (docker normalisation) and the
// registries config that maps them to mirrors: pure, no root.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { canonicalName, parseImageName, repositoryOf, taggedName } from "../../src/domain/reference.js";
import { endpointsFor, parseRegistriesConfig, type RegistriesConfig } from "../../src/images/registries-conf.js";
import { HullError } from "../../src/errors.js";

const D = `sha256:${"ab".repeat(32)}`;

describe("parseImageName (docker/CRI normalisation)", () => {
  it("normalises short names onto docker.io as the kubelet expects", () => {
    const cases: [string, string][] = [
      ["busybox", "docker.io/library/busybox:latest"],
      ["busybox:1.36", "docker.io/library/busybox:1.36"],
      ["library/busybox", "docker.io/library/busybox:latest"],
      ["someone/tool:v2", "docker.io/someone/tool:v2"],
      ["index.docker.io/library/busybox", "docker.io/library/busybox:latest"],
      ["docker.io/busybox", "docker.io/library/busybox:latest"],
      ["registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"],
      ["localhost/a/b", "localhost/a/b:latest"],
      ["127.0.0.1:5000/e2e-test-images/busybox:1.29-2", "127.0.0.1:5000/e2e-test-images/busybox:1.29-2"],
      [`gcr.io/x/y@${D}`, `gcr.io/x/y@${D}`],
      [`busybox@${D}`, `docker.io/library/busybox@${D}`],
      [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`],
    ];
    for (const [ref, want] of cases) assert.equal(canonicalName(parseImageName(ref)), want, ref);
  });

  it("a digest reference has no tag; a tagless one gets latest", () => {
    assert.equal(taggedName(parseImageName(`a/b@${D}`)), undefined);
    assert.equal(taggedName(parseImageName("a/b")), "docker.io/a/b:latest");
    assert.equal(repositoryOf(parseImageName("quay.io:443/a/b:c")), "quay.io:443/a/b");
  });

  it("refuses what is not a reference, naming the field", () => {
    for (const bad of ["", "Busybox", "a//b", "a/b:", "a@sha256:zz", `a@md5:${"0".repeat(32)}`, "bad_host.-x/a", ":tag", "a/b:t:t", "x".repeat(256)]) {
      assert.throws(
        () => parseImageName(bad, "image.image"),
        (e: unknown) => e instanceof HullError && e.reason === "INVALID_ARGUMENT" && e.message.startsWith("invalid image.image"),
        bad,
      );
    }
  });
});

const KIT = `
unqualified-search-registries = ["docker.io"]
[[registry]]
prefix = "registry.k8s.io"
location = "127.0.0.1:5000"
insecure = true

[[registry]]
location = "gcr.io"
[[registry.mirror]]
location = "127.0.0.1:5000"
insecure = true
[[registry.mirror]]
location = "mirror.example:5001/gcr"

[[registry]]
prefix = "docker.io/library"
location = "hub-cache.example/library"
mirror-by-digest-only = true
[[registry.mirror]]
location = "digest-cache.example/hub"

[[registry]]
prefix = "*.blocked.example"
blocked = true
`;

describe("registries config (containers-registries.conf v2)", () => {
  const conf: RegistriesConfig = parseRegistriesConfig(KIT, "/etc/test.conf");
  const at = (ref: string, insecure = false): string[] =>
    endpointsFor(conf, parseImageName(ref), insecure).map((e) => `${e.insecure ? "http" : "https"}://${e.host}/${e.path}${e.mirror ? " (mirror)" : ""}`);

  it("rewrites a prefix to its location: the kit's registry.k8s.io", () => {
    assert.deepEqual(at("registry.k8s.io/pause:3.10"), ["http://127.0.0.1:5000/pause"]);
    assert.deepEqual(at("registry.k8s.io/e2e-test-images/busybox:1.29-2"), ["http://127.0.0.1:5000/e2e-test-images/busybox"]);
  });

  it("tries mirrors in order, then the location", () => {
    assert.deepEqual(at("gcr.io/k8s-staging-cri-tools/test-image-tag:all"), [
      "http://127.0.0.1:5000/k8s-staging-cri-tools/test-image-tag (mirror)",
      "https://mirror.example:5001/gcr/k8s-staging-cri-tools/test-image-tag (mirror)",
      "https://gcr.io/k8s-staging-cri-tools/test-image-tag",
    ]);
  });

  it("matches whole path components and the longest prefix", () => {
    // gcr.io.evil.example is another registry, not under gcr.io.
    assert.deepEqual(at("gcr.io.evil.example/x"), ["https://gcr.io.evil.example/x"]);
    assert.deepEqual(at("busybox"), ["https://hub-cache.example/library/busybox"]);
    assert.deepEqual(at(`busybox@${D}`), ["https://digest-cache.example/hub/busybox (mirror)", "https://hub-cache.example/library/busybox"]);
    // Docker Hub outside docker.io/library: no entry, its API host.
    assert.deepEqual(at("someone/tool"), ["https://registry-1.docker.io/someone/tool"]);
  });

  it("the request's insecure flag applies to the location, not to mirrors", () => {
    assert.deepEqual(at("localhost:5000/a", true), ["http://localhost:5000/a"]);
    assert.deepEqual(at("gcr.io/a", true).at(-1), "http://gcr.io/a");
    assert.equal(at("gcr.io/a", true)[1], "https://mirror.example:5001/gcr/a (mirror)");
  });

  it("refuses pulls from a blocked registry", () => {
    assert.throws(
      () => at("a.blocked.example/x"),
      (e: unknown) => e instanceof HullError && e.reason === "REGISTRY_BLOCKED" && e.message.includes("/etc/test.conf"),
    );
  });

  it("refuses a bad file naming the file and entry", () => {
    const bad: [string, RegExp][] = [
      ["[[registry]]\nlocation = 5", /#1: location 5/],
      ['[[registry]]\nlocation = "https://x.example"', /without a scheme/],
      ['[[registry]]\nlocation = "x.example"\nmirrors = []', /unknown key\(s\) "mirrors"/],
      ['[[registry]]\nprefix = "*.x.example"\nlocation = "y.example"', /wildcard prefix/],
      ['[[registry]]\nlocation = "x.example"\n[[registry]]\nlocation = "x.example"', /appears twice/],
      ['[[registry]]\nlocation = "x.example"\ninsecure = "yes"', /"insecure" must be true or false/],
      ["registry = [", /TOML/],
      ['credential-helper = "x"', /unknown key/],
    ];
    for (const [text, re] of bad) {
      assert.throws(
        () => parseRegistriesConfig(text, "/etc/r.conf"),
        (e: unknown) =>
          e instanceof HullError && e.reason === "INVALID_ARGUMENT" && e.message.startsWith("registries config /etc/r.conf") && re.test(e.message),
        text,
      );
    }
  });
});
