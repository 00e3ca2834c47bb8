// Pod user namespaces (the CRI's userns_options, Kubernetes' hostUsers:
// false): a pod in POD mode gets a user namespace of its own with the
// kubelet's mapping, pinned with its other namespaces and owning them; every
// container of the pod joins it, as with CRI-O and containerd. NODE mode is
// the host's user namespace. The request's shape (one range from container
// id 0, no host namespaces beside it) is checked by the CRI validators.
import { NamespaceMode, type UserNamespace as CriUserNamespace } from "../../gen/runtime/v1/api.js";
import { UserNamespace } from "../../gen/hull/v1/container.js";
import type { IdMappings } from "../../domain/spec-defaults.js";
import type { PodRecord } from "../../store/record.js";
import { invalidArgument } from "../../errors.js";

/** A container's userns_options: absent, the pod's (with the mapping it repeats) or the host's. */
export type ContainerUserns = { mode: "node" } | { mode: "pod"; mappings: IdMappings };

/** The mappings a validated userns_options asks for; undefined = the host's user namespace. */
export function criIdMappings(u: CriUserNamespace | undefined): IdMappings | undefined {
  if (u === undefined || u.mode !== NamespaceMode.POD) return undefined;
  const [uid] = u.uids;
  const [gid] = u.gids;
  if (uid === undefined || gid === undefined) throw invalidArgument("userns_options.uids", "mode POD needs one uid and one gid mapping");
  return { uid: { hostId: uid.hostId, size: uid.length }, gid: { hostId: gid.hostId, size: gid.length } };
}

export function criContainerUserns(u: CriUserNamespace | undefined): ContainerUserns | undefined {
  if (u === undefined) return undefined;
  const mappings = criIdMappings(u);
  return mappings === undefined ? { mode: "node" } : { mode: "pod", mappings };
}

function sameMappings(a: IdMappings, b: IdMappings): boolean {
  return a.uid.hostId === b.uid.hostId && a.uid.size === b.uid.size && a.gid.hostId === b.gid.hostId && a.gid.size === b.gid.size;
}

function shownMappings(m: IdMappings | undefined): string {
  return m === undefined ? "the host's" : `uids 0→${m.uid.hostId} (${m.uid.size}), gids 0→${m.gid.hostId} (${m.gid.size})`;
}

/**
 * The hull.v1 user namespace of a container in pod: the pod's, whatever the
 * container repeats of it; a container asking for another one than its
 * pod's is refused, since it shares namespaces its pod's user namespace owns.
 */
export function podContainerUserNamespace(pod: PodRecord, asked: ContainerUserns | undefined): UserNamespace | undefined {
  const own = pod.idMappings;
  const askedMappings = asked?.mode === "pod" ? asked.mappings : undefined;
  const differs = asked !== undefined && (askedMappings === undefined || own === undefined ? askedMappings !== own : !sameMappings(askedMappings, own));
  if (differs)
    throw invalidArgument(
      "config.linux.security_context.namespace_options.userns_options",
      `the container asks for ${shownMappings(askedMappings)} user namespace, its pod ${pod.id.slice(0, 12)} has ${shownMappings(own)}`,
    );
  if (own === undefined) return undefined;
  return UserNamespace.fromPartial({ mode: "private", hostId: own.uid.hostId, size: own.uid.size, gidHostId: own.gid.hostId, gidSize: own.gid.size });
}
