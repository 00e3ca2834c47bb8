// The mount point lookup behind filesystemInfo, on mountinfo text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mountPointOf } from "../../src/images/layer-usage.js";

const MOUNTINFO = [
  "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
  "30 22 0:26 / /var/lib/hull rw,relatime shared:9 - xfs /dev/vdb rw",
  "31 30 0:27 / /var/lib/hull/containers/abc/overlay/merged rw - overlay overlay rw,lowerdir=/x",
  "32 22 0:28 / /mnt/with\\040space rw - tmpfs tmpfs rw",
  "33 22 0:29 / /var/lib/hullish rw - tmpfs tmpfs rw",
  "",
].join("\n");

test("the longest mount point holding the path", () => {
  assert.equal(mountPointOf("/var/lib/hull/images/blobs", MOUNTINFO), "/var/lib/hull");
  assert.equal(mountPointOf("/var/lib/hull", MOUNTINFO), "/var/lib/hull");
  assert.equal(mountPointOf("/var/lib/hull/containers/abc/overlay/merged/etc", MOUNTINFO), "/var/lib/hull/containers/abc/overlay/merged");
  assert.equal(mountPointOf("/etc", MOUNTINFO), "/");
});

test("a name prefix is not a parent; escapes are decoded", () => {
  assert.equal(mountPointOf("/var/lib/hullish/x", MOUNTINFO), "/var/lib/hullish");
  assert.equal(mountPointOf("/var/lib/hulls", MOUNTINFO), "/");
  assert.equal(mountPointOf("/mnt/with space/d", MOUNTINFO), "/mnt/with space");
});

test("no mount holds the path", () => {
  assert.equal(mountPointOf("/x", ""), undefined);
});
