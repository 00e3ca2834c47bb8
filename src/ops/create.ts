// CreateContainer: validate everything, then write one record atomically.
import { randomBytes, randomInt } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ContainerConfig } from "../gen/hull/v1/container.js";
import { ContainerState, type ContainerRecord } from "../store/record.js";
import { HullError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import { validateConfigOnHost } from "../validation/container-config.js";
import { userNamespaceMapping } from "../validation/spec-rules.js";
import { checkSearchableByOthers } from "../oci/userns-rootfs.js";
import { applyImageDefaults } from "../images/defaults.js";
import { overlayDirs } from "../images/overlay.js";
import { resolveDevices } from "../oci/host-devices.js";
import { resolveImageVolumes } from "../images/image-volumes.js";

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "gentle",
  "happy",
  "jolly",
  "keen",
  "lucid",
  "merry",
  "nimble",
  "proud",
  "quiet",
  "sharp",
  "tender",
  "witty",
];
const NOUNS = [
  "turing",
  "hopper",
  "lovelace",
  "ritchie",
  "thompson",
  "torvalds",
  "knuth",
  "dijkstra",
  "liskov",
  "hamilton",
  "kernighan",
  "pike",
  "wirth",
  "backus",
  "mccarthy",
  "shannon",
];

/** A Podman-style random name (adjective_scientist), with a number on collision. */
async function generateName(engine: Engine): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    const name = attempt < 5 ? base : `${base}${randomInt(1000)}`;
    const taken = await engine.store.resolveContainer(name).then(
      () => true,
      (err: unknown) => {
        if (err instanceof HullError && err.reason === "CONTAINER_NOT_FOUND") return false;
        throw err;
      },
    );
    if (!taken) return name;
  }
  return `hull_${randomBytes(6).toString("hex")}`;
}

/** What a restore from a checkpoint archive fixes in advance (see lifecycle/checkpoint.ts). */
export interface CreateOverrides {
  /** Keep this id (the archived container's) instead of a random one. */
  id?: string;
  /** A root filesystem already laid down (in the container's dir): used, and validated, instead of config.rootfs_path. */
  rootfs?: string;
  restartCount?: number;
  /** Dirs hulld wrote for this container (its pod's /etc files): bind sources there are allowed although they are hulld's state. */
  grantedMountSources?: string[];
}

export async function createContainer(engine: Engine, requested: ContainerConfig, overrides: CreateOverrides = {}): Promise<ContainerRecord> {
  // An image's config fills in what the request leaves empty (Podman's rules).
  const usesImage = requested.image !== "" && requested.rootfsPath === "" && overrides.rootfs === undefined;
  const image = usesImage ? engine.images.resolve(requested.image) : undefined;
  // The argv that runs is stored as command: an entrypoint given is folded in (without an image, nothing else is).
  const config = image
    ? applyImageDefaults(requested, image)
    : { ...requested, entrypoint: undefined, command: [...(requested.entrypoint?.args ?? []), ...requested.command] };
  await validateConfigOnHost(
    overrides.rootfs !== undefined ? { ...config, rootfsPath: overrides.rootfs } : config,
    [engine.paths.root, engine.paths.runRoot],
    "config",
    overrides.grantedMountSources,
  );
  // A device path that is missing or no device is refused now, as containerd and CRI-O refuse it at CreateContainer (they build the spec there).
  await resolveDevices(config.devices);
  // After the shape checks: an image volume's image must be in the store now, and is kept by id.
  const imageVolumes = resolveImageVolumes(engine.images, config.mounts);
  const dependencyIds: string[] = [];
  for (const dep of config.dependsOn) {
    const depId = await engine.resolve(dep);
    if (!dependencyIds.includes(depId)) dependencyIds.push(depId);
  }
  const id = overrides.id ?? randomBytes(32).toString("hex");
  const name = config.name || (await generateName(engine));
  const dir = engine.containerDir(id);
  const rec: ContainerRecord = {
    id,
    name,
    state: ContainerState.CONTAINER_STATE_CONFIGURED,
    config: { ...config, name },
    dependencyIds,
    exitCode: 0,
    exitSignal: 0,
    pid: 0,
    conmonPid: 0,
    createdAt: new Date().toISOString(),
    startedAt: "",
    finishedAt: "",
    restartCount: overrides.restartCount ?? 0,
    stoppedByUser: false,
    stateReason: "",
    oomKilled: false,
    mountCount: 0,
    rootfs: overrides.rootfs ?? (image ? overlayDirs(dir).merged : config.rootfsPath),
    bundlePath: engine.bundlePath(id),
    logPath: config.logPath !== "" ? config.logPath : join(dir, "ctr.log"),
    execSessions: [],
    revision: 0,
    ...(image ? { imageId: image.id } : {}),
    ...(imageVolumes.length > 0 ? { imageVolumes } : {}),
  };
  // A user-namespaced container's root must be able to walk to its rootfs (see hulld's root dir).
  const userns = userNamespaceMapping(config.security?.userNamespace) !== undefined;
  if (userns && image) await checkSearchableByOthers(engine.paths.containersDir, `container ${id.slice(0, 12)} with a user namespace`);
  await mkdir(dir, { recursive: true, mode: userns ? 0o711 : 0o700 });
  try {
    await engine.store.createContainer(rec);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const saved = (await engine.store.getContainer(id)) ?? rec;
  engine.bus.publish(saved);
  await engine.event("create", saved);
  return saved;
}
