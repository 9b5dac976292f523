// yardctl run [flags] -- CMD ARGS...: submits a job to the batch framework, streams the
// output of its tasks, and exits with the task's exit code.
import type { Command } from "commander";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import type { Job } from "../../proto/gen/yard/v1/batch.js";
import { BatchClient, type ClientTarget, OperatorClient } from "../clients.js";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { CliError, ExitCode, UsageError } from "../errors.js";
import { JOB_DONE, jobOutcome } from "../job-outcome.js";
import { pumpLogs } from "../log-stream.js";
import { noticePending } from "../pending-notice.js";
import { addClientOptions, print } from "../options.js";
import { nonNegative, nonNegativeInt, positiveInt, text } from "../parse.js";
import { shellCommand } from "../shell.js";

/** The name the batch framework subscribes with; yardctl finds its endpoint by it. */
export const BATCH_FRAMEWORK_NAME = "batch";

/** After the job ends, how long the logs may take to drain before yardctl stops waiting. */
const LOG_DRAIN_MS = 5_000;

/**
 * Logs are asked for once a task has reached its agent: in these states it has, or had, a
 * sandbox with output in it. (LOST and ERROR tasks may never have started.)
 */
const HAS_LOGS = new Set<TaskState>([
  TaskState.TASK_STARTING,
  TaskState.TASK_RUNNING,
  TaskState.TASK_KILLING,
  TaskState.TASK_FINISHED,
  TaskState.TASK_FAILED,
  TaskState.TASK_KILLED,
]);

export function registerRun(program: Command): void {
  addClientOptions(
    program
      .command("run")
      .description("run a command as a batch job and stream its output")
      .argument("<command...>", "the command and its arguments (put them after --)")
      .option("--cpus <n>", "CPUs per task", "0.1")
      .option("--mem <MiB>", "memory per task in MiB", "64")
      .option("--tasks <n>", "how many tasks to run", "1")
      .option("--retries <n>", "extra attempts per failed task", "0")
      .option("--ports <n>", "ports per task (env PORT0..)", "0")
      .option("--name <name>", "job name (default: generated)")
      .option("--image <image>", "run the command in a container of this image (the docker executor)")
      .option("-d, --detach", "print the job id and return at once")
      .passThroughOptions(),
  ).action(async (argv: string[], flags: Record<string, unknown>) => {
    const cpus = parseFlag(nonNegative, flags.cpus, "--cpus");
    const mem = parseFlag(nonNegative, flags.mem, "--mem");
    if (cpus === 0 && mem === 0) throw new UsageError("--cpus and --mem: at least one must be more than 0");
    const tasks = parseFlag(positiveInt, flags.tasks, "--tasks");
    const maxRetries = parseFlag(nonNegativeInt, flags.retries, "--retries");
    const ports = parseFlag(nonNegativeInt, flags.ports, "--ports");
    const name = flags.name === undefined ? "" : parseFlag(text, flags.name, "--name");
    const image = flags.image === undefined ? "" : parseFlag(text, flags.image, "--image");
    if (argv.length === 0 || argv.every((a) => a.trim() === "")) {
      throw new UsageError("run: give a command after --, e.g. yardctl run -- echo hi");
    }
    const target = clientTarget(flags);
    const operator = new OperatorClient(target);
    let batch: BatchClient | undefined;
    try {
      batch = new BatchClient({ ...target, address: await findBatchEndpoint(operator, target) });
      const job = await batch.submitJob({
        spec: {
          name,
          command: { value: shellCommand(argv), arguments: [], shell: true, env: {} },
          resources: { cpus, mem, disk: 0, ports: [] },
          tasks,
          maxRetries,
          ports,
          executor: image ? "docker" : "",
          container: image ? { image } : undefined,
        },
      });
      if (flags.detach) {
        print(job.id);
        return;
      }
      process.exitCode = await followJob(operator, batch, job);
    } finally {
      batch?.close();
      operator.close();
    }
  });
}

/** The batch framework's BatchService endpoint, found through the master by the framework's name. */
export async function findBatchEndpoint(operator: OperatorClient, target: ClientTarget): Promise<string> {
  const { frameworks } = await operator.getFrameworks();
  const fw = frameworks.find(
    (f) => f.info?.name === BATCH_FRAMEWORK_NAME && f.status === "CONNECTED" && f.info.endpoint,
  );
  if (!fw) {
    throw new CliError(
      `no batch framework is connected to the master at ${target.address} (start one with "yardctl up" or "yardctl batch")`,
      ExitCode.FAILURE,
    );
  }
  return fw.info!.endpoint;
}

/**
 * Watches the job to its end while streaming each task attempt's stdout and stderr.
 * Ctrl-C kills the job. Resolves with the exit code of `run`.
 */
async function followJob(operator: OperatorClient, batch: BatchClient, submitted: Job): Promise<number> {
  let job = submitted;
  const multi = submitted.spec ? submitted.spec.tasks > 1 : false;
  const pumps = new Map<string, Promise<void>>();
  const stopLogs = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(ExitCode.INTERRUPTED);
    interrupted = true;
    process.stderr.write(`yardctl: killing job ${job.id} (Ctrl-C again to leave it running)\n`);
    batch.killJob({ jobId: job.id }).catch((err: unknown) => {
      process.stderr.write(`yardctl: could not kill job ${job.id}: ${(err as Error).message}\n`);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // Until a task is placed, say why none is (the job's reasons from its framework and the master).
  let stopNotices: (() => void) | undefined = noticePending(operator, "job", submitted.id);
  const startLogs = (j: Job) => {
    if (stopNotices && (j.tasks.some((t) => t.agentId) || JOB_DONE.has(j.state))) {
      stopNotices();
      stopNotices = undefined;
    }
    for (const t of j.tasks) {
      // A task killed before it reached an agent never had a sandbox: no logs to ask for.
      if (!t.taskId || !t.agentId || pumps.has(t.taskId) || !HAS_LOGS.has(t.state)) continue;
      const prefix = multi ? `[${t.index}] ` : "";
      pumps.set(
        t.taskId,
        Promise.all([
          streamTaskLog(
            operator,
            t.taskId,
            "stdout",
            new LinePrefixer(prefix, process.stdout),
            stopLogs.signal,
          ),
          streamTaskLog(
            operator,
            t.taskId,
            "stderr",
            new LinePrefixer(prefix, process.stderr),
            stopLogs.signal,
          ),
        ]).then(() => undefined),
      );
    }
  };

  try {
    startLogs(job);
    if (!JOB_DONE.has(job.state)) {
      await batch
        .consume(
          () => batch.watchJob({ jobId: job.id }),
          (j) => {
            job = j;
            startLogs(j);
            return JOB_DONE.has(j.state) ? true : undefined;
          },
        )
        .catch((err: unknown) => {
          throw batch.streamError(err);
        });
      if (!JOB_DONE.has(job.state)) {
        job = await batch.getJob({ jobId: job.id });
        startLogs(job);
        if (!JOB_DONE.has(job.state)) {
          throw new CliError(`lost track of job ${job.id}: it is still ${job.state}`, ExitCode.FAILURE);
        }
      }
    }
    const drained = Promise.all(pumps.values());
    const timer = new Promise<void>((resolve) => setTimeout(resolve, LOG_DRAIN_MS).unref());
    await Promise.race([drained, timer]);
    stopLogs.abort();
    await drained;
  } finally {
    stopNotices?.();
    stopLogs.abort();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const outcome = jobOutcome(job);
  if (outcome.message) process.stderr.write(`yardctl: ${outcome.message}\n`);
  if (interrupted) return ExitCode.INTERRUPTED;
  return outcome.exitCode;
}

/**
 * Follows one log stream of a task. A stream that fails before any byte arrived (the task
 * may not have reached the master's log relay yet) is retried a few times; output is never
 * repeated. A log that cannot be read is a warning, not a failure of the run.
 */
async function streamTaskLog(
  operator: OperatorClient,
  taskId: string,
  stream: "stdout" | "stderr",
  out: LinePrefixer,
  signal: AbortSignal,
): Promise<void> {
  let received = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      await pumpLogs(
        operator,
        { taskId, stream, follow: true },
        (data) => {
          received += data.length;
          out.write(data);
          return undefined;
        },
        signal,
      );
      out.flush();
      return;
    } catch (err) {
      if (signal.aborted) {
        // Ctrl-C or the end of the job: a stream cut short is no failure to report.
        out.flush();
        return;
      }
      if (received > 0 || attempt >= 10) {
        out.flush();
        process.stderr.write(
          `yardctl: cannot read the ${stream} of task ${taskId}: ${(err as Error).message}\n`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Writes output through, starting each line with `prefix` (none for a single task). */
class LinePrefixer {
  private atLineStart = true;
  constructor(
    private readonly prefix: string,
    private readonly out: NodeJS.WritableStream,
  ) {}

  write(data: Buffer): void {
    if (this.prefix === "") {
      this.out.write(data);
      return;
    }
    const text = data.toString("utf8");
    let result = "";
    for (const ch of text) {
      if (this.atLineStart) result += this.prefix;
      result += ch;
      this.atLineStart = ch === "\n";
    }
    this.out.write(result);
  }

  /** Ends a last line that had no newline, so that the next task's output starts clean. */
  flush(): void {
    if (this.prefix !== "" && !this.atLineStart) {
      this.out.write("\n");
      this.atLineStart = true;
    }
  }
}
