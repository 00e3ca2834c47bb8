import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HullError } from "../../src/errors.js";
import { parseLimits, readHostLimits, resolveUser, UNLIMITED } from "../../src/oci/hostinfo.js";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             96364                96365                processes
Max open files            1024                 unlimited            files
`;

describe("host limits", () => {
  test("parses hard limits, unlimited becomes a large number", () => {
    assert.deepEqual(parseLimits(LIMITS), { nofileHard: UNLIMITED, nprocHard: 96365 });
  });
  test("reads this process's limits", async () => {
    const l = await readHostLimits();
    assert.ok(l.nofileHard > 0 && l.nprocHard > 0);
  });
});

describe("resolveUser", () => {
  let root = "";
  let outside = "";
  before(async () => {
    root = await mkdtemp("/tmp/hu-");
    outside = await mkdtemp("/tmp/hu-out-");
    await mkdir(join(root, "etc"));
    await writeFile(
      join(root, "etc/passwd"),
      ["root:x:0:0:root:/root:/bin/sh", "app:x:1000:1000::/home/app:/bin/sh", "nobody:x:65534:65534:nobody:/nonexistent:/bin/false", "broken line"].join("\n"),
    );
    await writeFile(join(root, "etc/group"), ["root:x:0:", "app:x:1000:", "wheel:x:10:app,other", "audio:x:29:app"].join("\n"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  const invalidUser = (err: unknown): boolean => err instanceof HullError && err.reason === "INVALID_ARGUMENT" && err.metadata.field === "user";

  test("empty is root", async () => {
    assert.deepEqual(await resolveUser(root, ""), { uid: 0, gid: 0, additionalGids: [], home: "/root" });
  });
  test("names and numbers", async () => {
    assert.deepEqual(await resolveUser(root, "app"), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: "/home/app" });
    assert.deepEqual(await resolveUser(root, "1000"), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: "/home/app" });
    assert.deepEqual(await resolveUser(root, "app:wheel"), { uid: 1000, gid: 10, additionalGids: [29], home: "/home/app" });
    assert.deepEqual(await resolveUser(root, "1000:5"), { uid: 1000, gid: 5, additionalGids: [10, 29], home: "/home/app" });
    assert.deepEqual(await resolveUser(root, "4242"), { uid: 4242, gid: 0, additionalGids: [], home: "/" });
    assert.deepEqual(await resolveUser(root, "4242:7"), { uid: 4242, gid: 7, additionalGids: [], home: "/" });
  });
  test("unknown names are INVALID_ARGUMENT", async () => {
    await assert.rejects(resolveUser(root, "ghost"), invalidUser);
    await assert.rejects(resolveUser(root, "app:ghosts"), invalidUser);
    await assert.rejects(resolveUser(root, "a:b:c"), invalidUser);
    await assert.rejects(resolveUser(root, "99999999999"), invalidUser);
  });
  test("symlinks out of the rootfs are refused", async () => {
    const evil = await mkdtemp("/tmp/hu-evil-");
    try {
      await writeFile(join(outside, "passwd"), "ghost:x:7:7::/:/bin/sh\n");
      await mkdir(join(evil, "etc"));
      await symlink(join(outside, "passwd"), join(evil, "etc/passwd"));
      await assert.rejects(resolveUser(evil, "ghost"), invalidUser);
      await rm(join(evil, "etc"), { recursive: true });
      await symlink("../../../../../../.." + outside, join(evil, "etc"));
      await assert.rejects(resolveUser(evil, "0"), invalidUser);
    } finally {
      await rm(evil, { recursive: true, force: true });
    }
  });
  test("a rootfs without /etc/passwd still takes numeric ids", async () => {
    const bare = await mkdtemp("/tmp/hu-bare-");
    try {
      assert.deepEqual(await resolveUser(bare, "5:6"), { uid: 5, gid: 6, additionalGids: [], home: "/" });
      await assert.rejects(resolveUser(bare, "root"), invalidUser);
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });
});
