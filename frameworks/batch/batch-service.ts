// BatchService: the gRPC API of the batch framework (submit, get, list, kill, watch jobs).
// Requests are checked here; the BatchScheduler owns the jobs.
import type { Metadata, ServerWritableStream } from "@grpc/grpc-js";
import { InvalidArgumentError, NotFoundError, toGrpcError } from "../../common/errors.js";
import type { Logger } from "../../framework-sdk/index.js";
import { type BatchServiceServer, type GetJobRequest, Job } from "../../proto/gen/yard/v1/batch.js";
import { type AccessReviewer, type OpenStreams, StreamWriter } from "../../framework-sdk/index.js";
import type { BatchScheduler } from "./batch-scheduler.js";
import { newJobId, validateJobSpec } from "./job-spec.js";
import { isJobEnded } from "./job-state.js";

function copy(job: Job): Job {
  return Job.fromPartial(job);
}

export function createBatchService(
  scheduler: BatchScheduler,
  access: AccessReviewer,
  log: Logger,
  openStreams?: OpenStreams,
) {
  const find = (jobId: string): Job => {
    if (!jobId) throw new InvalidArgumentError("job_id", "is empty");
    const job = scheduler.get(jobId);
    if (!job) throw new NotFoundError(`job ${JSON.stringify(jobId)} not found`);
    return job;
  };
  // Reads need `view`; submitting a job needs `deploy` on its name, killing one `kill` on its
  // id (docs/security.md). The master's policy decides (framework-sdk/access-review.ts).
  const unary =
    <Req, Res>(action: "view" | ((req: NoInfer<Req>) => readonly [string, string]), fn: (req: Req) => Res) =>
    (call: { request: Req; metadata: Metadata }, cb: (err: any, res?: Res) => void) => {
      const [act, object] = action === "view" ? ["view", ""] : action(call.request);
      access
        .require(call, act, object)
        .then(async () => {
          const res = fn(call.request);
          // What the client is told must be stored (at once in SQLite, batched on etcd).
          await scheduler.durable();
          return res;
        })
        .then(
          (res) => cb(null, res),
          (err) => cb(toGrpcError(err)),
        );
    };

  const impl: BatchServiceServer = {
    submitJob: unary(
      (req) => ["deploy", req.spec?.name ?? ""],
      (req) => {
        const spec = validateJobSpec(req.spec);
        return copy(scheduler.submit(newJobId(spec.name), spec));
      },
    ),
    getJob: unary("view", (req) => copy(find(req.jobId))),
    listJobs: unary("view", () => ({ jobs: scheduler.list().map(copy) })),
    killJob: unary(
      (req) => ["kill", req.jobId],
      (req) => copy(scheduler.kill(find(req.jobId).id)!),
    ),
    watchJob: (call: ServerWritableStream<GetJobRequest, Job>) => {
      access.require(call, "view").then(
        () => watch(call),
        (err) => call.emit("error", toGrpcError(err)),
      );
    },
  };
  function watch(call: ServerWritableStream<GetJobRequest, Job>): void {
    let job: Job;
    try {
      job = find(call.request.jobId);
    } catch (err) {
      call.emit("error", toGrpcError(err));
      return;
    }
    // Each message is the whole job: a client that is behind gets the newest one when it drains.
    const out = new StreamWriter<Job>(call, { mode: "latest", openStreams });
    out.write(copy(job));
    if (isJobEnded(job)) {
      out.end();
      return;
    }
    const unwatch = scheduler.watch(job.id, (next) => {
      if (!out.open) return unwatch();
      if (next) out.write(next);
      if (!next || isJobEnded(next)) {
        unwatch();
        out.end();
      }
    });
    call.on("close", unwatch);
    call.on("cancelled", unwatch);
    call.on("error", (err) => {
      unwatch();
      log.debug("watch stream error", { err });
    });
  }
  return impl;
}
