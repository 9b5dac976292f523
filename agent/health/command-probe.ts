// The command probe: the check's command runs inside the task (its sandbox and environment,
// or its container) through the task's executor; exit 0 within the timeout passes.
import { errorMessage } from "../../common/errors.js";
import type { ExecResult } from "../executor.js";
import type { ProbeResult } from "./health-machine.js";

export type ExecInTask = (command: string, timeoutMs: number) => Promise<ExecResult>;

export async function commandProbe(
  exec: ExecInTask,
  command: string,
  timeoutMs: number,
): Promise<ProbeResult> {
  let r: ExecResult;
  try {
    r = await exec(command, timeoutMs);
  } catch (err) {
    return { ok: false, message: `cannot run the check: ${errorMessage(err)}` };
  }
  if (r.timedOut) return { ok: false, message: `no exit within ${timeoutMs} ms` };
  if (r.exitCode === 0) return { ok: true, message: "exit 0" };
  const tail = r.output.trim().split("\n").pop()?.slice(0, 200) ?? "";
  return { ok: false, message: `exit ${r.exitCode ?? "unknown"}${tail ? `: ${tail}` : ""}` };
}
