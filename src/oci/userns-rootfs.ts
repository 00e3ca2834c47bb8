// What a user-namespaced container's rootfs needs from the host: a path
// that container root, a host id with no rights in hulld's dirs, may walk.
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { HullError } from "../errors.js";

/**
 * Refuses early, naming the directory, when container root (a host id with
 * no rights in hulld's dirs) could not reach a rootfs under dir: runc's init
 * would fail with a bare EACCES. Every directory from / down to dir must be
 * searchable by others (hulld makes its own 0711, as containerd does).
 */
export async function checkSearchableByOthers(dir: string, what: string): Promise<void> {
  for (let at = dir; ; at = dirname(at)) {
    const st = await stat(at);
    if ((st.mode & 0o001) === 0)
      throw new HullError(
        "HOST_UNSUPPORTED",
        `${what}: ${at} is mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}, so root in a user namespace cannot reach the containers under ${dir}; make it searchable (chmod o+x) or choose a --root below searchable directories`,
        { path: at },
      );
    if (at === dirname(at)) return;
  }
}
