// Shared helpers of the agent tests: temp dirs, a process executor that records how tasks
// end, and a polling wait.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { silentLogger } from "../../common/logger.js";
import { type TaskInfo, TaskInfo as TaskInfoMsg } from "../../proto/gen/yard/v1/common.js";
import { CgroupManager, detectCgroups } from "../../agent/cgroups.js";
import type { TaskEnded } from "../../agent/executor.js";
import { ProcessExecutor } from "../../agent/process-executor.js";

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `yard-${prefix}-`));
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function shellTask(taskId: string, cmd: string, extra: Partial<TaskInfo> = {}): TaskInfo {
  return TaskInfoMsg.fromPartial({
    taskId,
    name: taskId,
    command: { value: cmd, shell: true },
    resources: { cpus: 0.5, mem: 64, disk: 0, ports: [] },
    ...extra,
  });
}

export const cgroupSupport = detectCgroups();
/**
 * The describe() option of the cgroup suites: outside CI a host without writable cgroups
 * skips them with the reason; under CI=true they run, and fail there.
 */
export const cgroupSkip: string | false =
  cgroupSupport.version === 0 && process.env.CI !== "true"
    ? `cgroups are not writable here: ${cgroupSupport.reason}`
    : false;

export class RecordingExecutor {
  readonly ended: TaskEnded[] = [];
  readonly executor: ProcessExecutor;
  constructor(
    readonly dataDir: string,
    opts: { cgroups?: boolean; pollMs?: number } = {},
  ) {
    const support =
      opts.cgroups === false ? { version: 0 as const, reason: "off in this test" } : cgroupSupport;
    this.executor = new ProcessExecutor(
      { onEnded: (e) => this.ended.push(e) },
      {
        dataDir,
        cgroups: new CgroupManager(support, silentLogger),
        logger: silentLogger,
        pollMs: opts.pollMs ?? 100,
      },
    );
  }

  waitEnded(taskId: string, timeoutMs = 10_000): Promise<TaskEnded> {
    return waitFor(`${taskId} to end`, () => this.ended.find((e) => e.taskId === taskId), timeoutMs);
  }
}

export function killPid(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
