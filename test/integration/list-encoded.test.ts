// ListContainers and InspectContainer answer from each record's cached wire
// bytes (service/container-responses.ts): what they send must be what the
// uncached path (SyncContainer converts and encodes afresh) says, after every
// change of a record, and the filters must still choose the same records.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Container } from "../../src/gen/hull/v1/container.js";
import { daemonSuite } from "../helpers/suite.js";
import type { Api } from "../helpers/api.js";
import { S, create, inspect, must, uniqueName, waitExited } from "../helpers/fixtures.js";

describe("lists from cached encodings", () => {
  const s = daemonSuite();
  const api = (): Api => s.d.api;
  const label = uniqueName("set");

  /** The container as SyncContainer reports it: converted and encoded on this call, not cached. */
  const fresh = async (id: string): Promise<Container> => must((await api().syncContainer({ id })).container, "SyncContainerResponse.container");
  const listed = async (req: Parameters<Api["listContainers"]>[0]): Promise<Container[]> => (await api().listContainers(req)).containers;
  const ids = (cs: Container[]): string[] => cs.map((c) => c.id).sort();

  it("list and inspect match the uncached encoding through create, start, exit and remove", async () => {
    const made: Container[] = [];
    for (const role of ["a", "b", "c"]) {
      const c = await create(api(), s.rootfs, ["true"], { name: uniqueName(`enc-${role}`), labels: { set: label, role } });
      s.made.push(c.id);
      made.push(c);
    }
    const [a, b, c] = made.map((x) => x.id) as [string, string, string];
    // A filled cache first: every record listed (and so encoded) once.
    assert.deepEqual(ids(await listed({ labels: { set: label } })), [a, b, c].sort());

    must((await api().startContainer({ id: a })).container, "start a");
    await waitExited(api(), a);
    const afterExit = await listed({ labels: { set: label } });
    assert.deepEqual(
      afterExit.find((x) => x.id === a),
      await fresh(a),
      "the exited container, as listed",
    );
    assert.equal(afterExit.find((x) => x.id === a)?.state, S.CONTAINER_STATE_EXITED);
    assert.deepEqual(await inspect(api(), a), await fresh(a), "the exited container, as inspected");
    for (const id of [b, c])
      assert.deepEqual(
        afterExit.find((x) => x.id === id),
        await fresh(id),
        `untouched ${id.slice(0, 12)}`,
      );

    // The same list twice in a row (the reused response) is the same.
    assert.deepEqual(await listed({ labels: { set: label } }), await listed({ labels: { set: label } }));

    await api().removeContainer({ id: b, force: true });
    assert.deepEqual(ids(await listed({ labels: { set: label } })), [a, c].sort(), "the removed container is gone from the list");
    await assert.rejects(inspect(api(), b));
  });

  it("filters choose the same records from the cache", async () => {
    const x = await create(api(), s.rootfs, ["true"], { name: uniqueName("flt-x"), labels: { set: `${label}-f`, tier: "web" } });
    s.made.push(x.id);
    const y = await create(api(), s.rootfs, ["true"], { name: uniqueName("flt-y"), labels: { set: `${label}-f`, tier: "db" } });
    s.made.push(y.id);
    must((await api().startContainer({ id: y.id })).container, "start y");
    await waitExited(api(), y.id);
    const set = { set: `${label}-f` };
    assert.deepEqual(ids(await listed({ labels: { ...set, tier: "web" } })), [x.id]);
    assert.deepEqual(ids(await listed({ labels: set, states: [S.CONTAINER_STATE_EXITED] })), [y.id]);
    assert.deepEqual(ids(await listed({ labels: set, states: [S.CONTAINER_STATE_CONFIGURED] })), [x.id]);
    assert.deepEqual(ids(await listed({ name: x.name })), [x.id]);
    assert.deepEqual(ids(await listed({ idPrefix: y.id.slice(0, 16) })), [y.id]);
    assert.deepEqual(await listed({ labels: { set: `${label}-none` } }), []);
  });
});
