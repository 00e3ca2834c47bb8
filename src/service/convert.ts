// Store record → API message.
import type { Container, ExecSessionInfo } from "../gen/hull/v1/container.js";
import type { ContainerRecord } from "../store/record.js";

function time(iso: string): Date | undefined {
  return iso === "" ? undefined : new Date(iso);
}

export function toContainer(rec: ContainerRecord): Container {
  const execSessions: ExecSessionInfo[] = rec.execSessions.map((s) => ({ ...s }));
  return {
    id: rec.id,
    name: rec.name,
    state: rec.state,
    exitCode: rec.exitCode,
    pid: rec.pid,
    createdAt: time(rec.createdAt),
    startedAt: time(rec.startedAt),
    finishedAt: time(rec.finishedAt),
    restartCount: rec.restartCount,
    stoppedByUser: rec.stoppedByUser,
    mounted: rec.mountCount > 0,
    config: rec.config,
    dependencyIds: rec.dependencyIds,
    stateReason: rec.stateReason,
    oomKilled: rec.oomKilled,
    exitSignal: rec.exitSignal,
    bundlePath: rec.bundlePath,
    logPath: rec.logPath,
    conmonPid: rec.conmonPid,
    rootfs: rec.rootfs,
    execSessions,
    mountCount: rec.mountCount,
  };
}
