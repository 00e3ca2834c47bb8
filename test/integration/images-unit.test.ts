// Pure parts of the image store: reference grammar, entry-name checks, and
// layer extraction that nothing may escape (.., absolute names, symlinks).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { existsSync } from "node:fs";
import { execa } from "execa";
import { normalizeReference } from "../../src/domain/reference.js";
import { extractLayer, safeParts } from "../../src/images/layer-extract.js";
import { applyImageDefaults } from "../../src/images/defaults.js";
import type { ImageRecord } from "../../src/images/image-store.js";
import { makeTar, type TarEntry } from "../helpers/images.js";

async function extractInto(entries: TarEntry[]): Promise<{ dir: string; outside: string; err?: Error }> {
  const base = await mkdtemp(join(tmpdir(), "hull-layer-"));
  const dir = join(base, "layer");
  const outside = join(base, "outside");
  await mkdir(dir);
  await mkdir(outside);
  try {
    await extractLayer(Readable.from([await makeTar(entries)]), dir);
    return { dir, outside };
  } catch (err) {
    return { dir, outside, err: err as Error };
  }
}

describe("image references", () => {
  it("adds :latest and keeps registries and ports", () => {
    assert.equal(normalizeReference("busybox"), "busybox:latest");
    assert.equal(normalizeReference("library/busybox:1.36"), "library/busybox:1.36");
    assert.equal(normalizeReference("localhost:5000/a/b"), "localhost:5000/a/b:latest");
    assert.equal(normalizeReference("example.com/x_y/z-w:v1.2"), "example.com/x_y/z-w:v1.2");
  });
  it("refuses what the grammar refuses, naming the field", () => {
    for (const bad of ["", "Busybox", "a b", "x:", "x:-tag", "a//b", "a@sha256:00", "/abs", "a/..", "x".repeat(300)]) {
      assert.throws(
        () => normalizeReference(bad),
        (e: Error) => e.message.includes("invalid reference"),
        bad,
      );
    }
  });
});

describe("layer extraction", () => {
  it("refuses names with .., absolute names and NULs", () => {
    assert.throws(() => safeParts("../x"), /contains "\.\."/);
    assert.throws(() => safeParts("a/../../x"), /contains "\.\."/);
    assert.throws(() => safeParts("/etc/passwd"), /absolute/);
    assert.deepEqual(safeParts("./a//b/."), ["a", "b"]);
  });

  it("never writes through a symlink planted by an earlier entry", async () => {
    const r = await extractInto([
      { name: "escape", type: "symlink", linkname: "../outside" },
      { name: "escape/pwned", content: "x" },
    ]);
    assert.ok(r.err, "extraction must fail");
    assert.match(r.err.message, /not a directory/);
    assert.deepEqual(await readdir(r.outside), []);
    await rm(join(r.dir, ".."), { recursive: true, force: true });
  });

  it("refuses a hard link out of the layer or through a symlink", async () => {
    for (const entries of [
      [{ name: "h", type: "link", linkname: "../outside/f" }],
      [
        { name: "s", type: "symlink", linkname: "/etc" },
        { name: "h", type: "link", linkname: "s/passwd" },
      ],
    ] as TarEntry[][]) {
      const r = await extractInto(entries);
      assert.ok(r.err, `extraction of ${JSON.stringify(entries)} must fail`);
      assert.equal(await stat(join(r.dir, "h")).catch(() => undefined), undefined);
      await rm(join(r.dir, ".."), { recursive: true, force: true });
    }
  });

  it("turns an opaque directory marker into overlayfs' opaque xattr", async () => {
    const r = await extractInto([{ name: "d/", type: "directory" }, { name: "d/.wh..wh..opq" }, { name: "d/kept" }]);
    assert.equal(r.err, undefined);
    const { stdout } = await execa("getfattr", ["--only-values", "-n", "trusted.overlay.opaque", join(r.dir, "d")]);
    assert.equal(stdout, "y");
    assert.equal(existsSync(join(r.dir, "d", ".wh..wh..opq")), false, "the marker itself is not extracted");
    assert.equal(existsSync(join(r.dir, "d", "kept")), true);
    await rm(join(r.dir, ".."), { recursive: true, force: true });
  });
});

describe("image defaults", () => {
  const img = { entrypoint: ["/ep"], cmd: ["run"], env: ["PATH=/bin", "A=1"], workingDir: "/w", user: "nobody" } as ImageRecord;
  it("applies entrypoint, cmd, env, working dir and user as Podman does", () => {
    const none = applyImageDefaults({ command: [], env: ["A=2", "B=3"], workingDir: "", user: "" }, img);
    assert.deepEqual(none, { command: ["/ep", "run"], env: ["PATH=/bin", "A=2", "B=3"], workingDir: "/w", user: "nobody" });
    const given = applyImageDefaults({ command: ["x"], env: [], workingDir: "/o", user: "root" }, img);
    assert.deepEqual(given, { command: ["/ep", "x"], env: ["PATH=/bin", "A=1"], workingDir: "/o", user: "root" });
  });
});
