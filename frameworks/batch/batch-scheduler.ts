// The batch framework's scheduler: it owns the jobs (in memory, written through to the
// JobStore) and reacts to the driver's events. Offers go through the pure planner; task
// updates through the pure job state machine; this class only does the I/O around them.
import type { TransportChoice } from "../../common/tls.js";
import {
  type FrameworkMetrics,
  FrameworkRemovedError,
  isTerminal,
  type Logger,
  type Offer,
  PendingReasonCode,
  PendingTally,
  Reason,
  RetryBackoff,
  SchedulerDriver,
  type TaskStatus,
  TaskState,
  taskInfo,
  type WaitingUnit,
  type MasterListInput,
} from "../../framework-sdk/index.js";
import { Job } from "../../proto/gen/yard/v1/batch.js";
import { type PendingTask, planOffers } from "./batch-planner.js";
import { checkRetention, DEFAULT_JOB_RETENTION, type JobRetention, jobsToForget } from "./job-retention.js";
import type { JobStore } from "./job-store.js";
import {
  applyTaskStatus,
  isJobEnded,
  isLiveTask,
  isPendingTask,
  type JobChange,
  killJob,
  markLaunched,
  markLaunchFailed,
  newJob,
} from "./job-state.js";

/** Seconds the master keeps an agent's resources away from us after we decline or under-use them. */
export const REFUSE_SECONDS = 5;

export interface BatchSchedulerInit extends TransportChoice {
  master: MasterListInput;
  token?: string;
  name: string;
  role: string;
  failoverTimeoutSeconds: number;
  endpoint: string;
  /** How long ended jobs are remembered (job-retention.ts). */
  retention?: JobRetention;
  /** The SDK's metrics of the driver (docs/metrics.md). */
  metrics?: FrameworkMetrics;
}

/** How often ended jobs are checked against their maximum age. */
const RETENTION_CHECK_MS = 60_000;

/** Gets the job after each change, and undefined when the scheduler stops. */
type Watcher = (job: Job | undefined) => void;

export class BatchScheduler {
  private readonly jobs = new Map<string, Job>();
  /** Task id (of any attempt) → job id. */
  private readonly owners = new Map<string, string>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private driver: SchedulerDriver | undefined;
  private stopped = false;
  private readonly retention: JobRetention;
  private retentionTimer?: NodeJS.Timeout;
  private forgetPending = false;
  /** Offers being turned into launches (see syncInterest). */
  private placing = 0;
  /** Jobs whose last launch the master refused: their tasks wait 1 s doubling to 60 s before the next try. */
  private readonly refusals = new RetryBackoff<string>({ initialMs: 1_000, maxMs: 60_000 });
  /** Why the last batch of offers did not fit each job ("why pending"; reportPending). */
  private misfits = new PendingTally();
  /** Wakes the scheduler when the earliest backoff ends, to ask for offers again. */
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly log: Logger,
    private readonly init: BatchSchedulerInit,
  ) {
    this.retention = checkRetention(init.retention ?? DEFAULT_JOB_RETENTION);
    for (const job of store.loadJobs()) this.addJob(job);
    this.forgetOldJobs();
    this.retentionTimer = setInterval(() => this.forgetOldJobs(), RETENTION_CHECK_MS);
    this.retentionTimer.unref();
  }

  /**
   * Prunes on the next turn: the code that ended a job may still look it (or its siblings
   * in the same offer) up by id.
   */
  private forgetSoon(): void {
    if (this.forgetPending) return;
    this.forgetPending = true;
    setImmediate(() => {
      this.forgetPending = false;
      if (!this.stopped) this.forgetOldJobs();
    });
  }

  /** Forgets the ended jobs past the retention (memory and store); returns their ids. */
  forgetOldJobs(now = Date.now() / 1000): string[] {
    const ids = jobsToForget(this.jobs.values(), this.retention, now);
    if (ids.length === 0) return ids;
    this.store.deleteJobs(ids);
    const gone = new Set(ids);
    for (const id of ids) this.jobs.delete(id);
    for (const [taskId, jobId] of this.owners) if (gone.has(jobId)) this.owners.delete(taskId);
    this.log.debug("forgot ended jobs past their retention", { jobs: ids.length });
    return ids;
  }

  frameworkId(): string | undefined {
    return this.driver?.frameworkId;
  }

  /** Subscribes (with the stored framework id, if any) in the background. */
  connect(): void {
    const id = this.store.frameworkId();
    const driver = new SchedulerDriver({
      master: this.init.master,
      token: this.init.token,
      tls: this.init.tls,
      insecure: this.init.insecure,
      logger: this.log,
      metrics: this.init.metrics,
      framework: {
        name: this.init.name,
        role: this.init.role,
        failoverTimeoutSeconds: this.init.failoverTimeoutSeconds,
        endpoint: this.init.endpoint,
        id,
        secret: this.store.frameworkSecret(),
      },
    });
    this.driver = driver;
    driver.on("subscribed", (ev) => this.onSubscribed(ev.frameworkId, ev.secret));
    driver.on("offers", (ev) => this.onOffers(ev.offers));
    driver.on("update", (ev) => this.onUpdate(ev.status));
    driver.on("error", (ev) => this.onError(ev.error, ev.message));
    driver.start().catch((err) => {
      if (!(err instanceof FrameworkRemovedError)) this.log.warn("subscription ended", { err });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    clearTimeout(this.retryTimer);
    await this.driver?.stop();
    for (const set of this.watchers.values()) for (const w of set) w(undefined);
    this.watchers.clear();
  }

  // ---- jobs (called by the BatchService handlers) ----

  /** Resolves once every change so far is durable; a client is answered after it. */
  durable(): Promise<void> {
    return this.store.durable();
  }

  submit(id: string, spec: Job["spec"] & object, now = Date.now() / 1000): Job {
    const job = newJob(id, { ...spec, name: spec.name || id }, now);
    this.store.saveJob(job);
    this.addJob(job);
    this.log.info("job submitted", { job: id, tasks: spec.tasks });
    this.syncInterest();
    return job;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  kill(id: string): Job | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    this.commit(job, killJob(job, Date.now() / 1000));
    return job;
  }

  /** Calls `w` with the job after each change; `w(undefined)` when the scheduler stops. Returns an unsubscribe. */
  watch(id: string, w: Watcher): () => void {
    let set = this.watchers.get(id);
    if (!set) {
      set = new Set();
      this.watchers.set(id, set);
    }
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0) this.watchers.delete(id);
    };
  }

  private addJob(job: Job): void {
    this.jobs.set(job.id, job);
    for (const t of job.tasks) this.owners.set(t.taskId, job.id);
  }

  /** Persists a change, sends the kills it asks for, tells watchers, and re-evaluates offer interest. */
  private commit(job: Job, change: JobChange): void {
    if (change.tasks.length === 0 && !change.job && change.kill.length === 0) return;
    this.store.saveJob(job, change.tasks);
    for (const t of job.tasks) this.owners.set(t.taskId, job.id);
    if (isJobEnded(job)) this.refusals.succeeded(job.id);
    for (const taskId of change.kill) this.killTask(taskId);
    const snapshot = Job.fromPartial(job);
    for (const w of this.watchers.get(job.id) ?? []) w(snapshot);
    if (change.job && isJobEnded(job)) this.forgetSoon();
    this.syncInterest();
  }

  private killTask(taskId: string): void {
    const driver = this.driver;
    if (!driver?.frameworkId) return; // reconciliation after subscription will find it
    driver.kill(taskId).catch((err) => this.log.warn("kill failed", { taskId, err }));
  }

  private pending(): PendingTask[] {
    const out: PendingTask[] = [];
    const nowMs = Date.now();
    for (const job of this.jobs.values()) {
      if (isJobEnded(job) || !job.spec || !this.refusals.ready(job.id, nowMs)) continue;
      const r = job.spec.resources;
      for (const t of job.tasks) {
        if (!isPendingTask(t)) continue;
        out.push({
          jobId: job.id,
          index: t.index,
          taskId: t.taskId,
          requirement: { cpus: r?.cpus ?? 0, mem: r?.mem ?? 0, disk: r?.disk ?? 0, ports: job.spec.ports },
          executor: job.spec.executor || (job.spec.container?.image ? "docker" : "process"),
        });
      }
    }
    return out;
  }

  /** Offers are wanted while a task is pending (the SDK sends only the changes). */
  private syncInterest(): void {
    this.reportPending();
    const wanted = this.pending().length > 0;
    // A suppress now would rescind the offers whose launches wait for their tasks to be
    // stored; onOffers syncs again when it is done.
    if (!wanted && this.placing > 0) return;
    if (this.driver && !this.stopped) void this.driver.setInterest(wanted);
  }

  /**
   * The framework's half of "why pending" (yardctl explain job/ID): every job with tasks that
   * wait, with why the last offers did not fit it, or the backoff that holds it.
   */
  private reportPending(): void {
    if (!this.driver || this.stopped) return;
    const nowMs = Date.now();
    const units: WaitingUnit[] = [];
    for (const job of this.jobs.values()) {
      if (isJobEnded(job) || !job.spec) continue;
      const waiting = job.tasks.filter(isPendingTask);
      if (waiting.length === 0) continue;
      const r = job.spec.resources;
      const readyAt = this.refusals.ready(job.id, nowMs) ? undefined : this.refusals.readyAt(job.id);
      const until = readyAt === undefined ? "" : new Date(readyAt).toISOString();
      units.push({
        kind: "job",
        name: job.id,
        waiting: waiting.length,
        taskIds: waiting.map((t) => t.taskId),
        needs: { cpus: r?.cpus ?? 0, mem: r?.mem ?? 0, disk: r?.disk ?? 0, ports: [] },
        since: job.createdAt,
        message: until ? `launches held back until ${until}: the master refused the last one` : "",
        reasons: until
          ? [
              {
                code: PendingReasonCode.BACKED_OFF,
                detail: `the master refused the last launch; next try at ${until}`,
              },
            ]
          : [],
      });
    }
    this.driver.reportPending(this.misfits.work(units));
  }

  // ---- driver events ----

  private async onSubscribed(frameworkId: string, secret: string): Promise<void> {
    this.store.setFrameworkId(frameworkId, secret);
    const driver = this.driver!;
    const live: string[] = [];
    for (const job of this.jobs.values()) for (const t of job.tasks) if (isLiveTask(t)) live.push(t.taskId);
    try {
      // Tasks the master has that no job knows are killed in onUpdate.
      await driver.reconcileKnown(live);
    } catch (err) {
      this.log.warn("reconcile failed", { err });
    }
    this.syncInterest();
  }

  private async onOffers(offers: Offer[]): Promise<void> {
    this.placing++;
    try {
      await this.placeOffers(offers);
    } finally {
      this.placing--;
      this.syncInterest();
    }
  }

  private async placeOffers(offers: Offer[]): Promise<void> {
    const driver = this.driver!;
    const tally = new PendingTally();
    const plan = planOffers(offers, this.pending(), tally);
    this.misfits = tally;
    for (const { offer, launches } of plan.accept) {
      const tasks = launches.map(({ task, resources }) => {
        const job = this.jobs.get(task.jobId)!;
        const spec = job.spec!;
        return taskInfo({
          taskId: task.taskId,
          name: `${spec.name}.${task.index}`,
          agentId: offer.agentId,
          command: spec.command?.value
            ? { value: spec.command.value, arguments: spec.command.arguments, shell: spec.command.shell }
            : undefined,
          env: { ...(spec.command?.env ?? {}), YARD_TASK_INDEX: String(task.index), YARD_JOB_ID: job.id },
          cpus: resources.cpus,
          mem: resources.mem,
          disk: resources.disk,
          ports: resources.ports,
          executor: spec.executor || undefined,
          image: spec.container?.image || undefined,
          labels: { "yard.job": job.id, "yard.task-index": String(task.index) },
        });
      });
      // Persist the launch before sending it: after a crash, reconciliation finds the task.
      for (const { task } of launches) {
        const job = this.jobs.get(task.jobId)!;
        this.commit(job, markLaunched(job, task.index, offer.agentId));
      }
      // On etcd the write is batched: the launch waits for it (and is never sent by an instance
      // that lost its leadership: durable() rejects then).
      await this.store.durable();
      try {
        await driver.launch(offer, tasks, { refuseSeconds: REFUSE_SECONDS });
        this.log.info("launched", { agent: offer.agentId, tasks: tasks.map((t) => t.taskId).join(",") });
        for (const { task } of launches) {
          if (this.refusals.succeeded(task.jobId))
            this.log.info("launches accepted again", { job: task.jobId });
        }
        // A job killed while the Accept was in flight: its kill could not reach these yet.
        for (const { task } of launches) {
          if (isJobEnded(this.jobs.get(task.jobId)!)) this.killTask(task.taskId);
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        for (const jobId of new Set(launches.map(({ task }) => task.jobId)))
          this.backOff(jobId, offer, message);
        for (const { task } of launches) {
          const job = this.jobs.get(task.jobId)!;
          this.commit(job, markLaunchFailed(job, task.index, message));
        }
      }
    }
    if (plan.decline.length > 0) {
      await driver
        .decline(
          plan.decline.map((o) => o.id),
          { refuseSeconds: REFUSE_SECONDS },
        )
        .catch((err) => this.log.warn("decline failed", { err }));
    }
    this.syncInterest();
  }

  /** One log line per refusal; the job's tasks are not pending again until the wait is over. */
  private backOff(jobId: string, offer: Offer, error: string): void {
    const { delayMs, step } = this.refusals.failed(jobId, Date.now());
    this.log.warn("launch refused; backing off", {
      job: jobId,
      agent: offer.agentId,
      error,
      step,
      retryInSeconds: Math.round(delayMs / 100) / 10,
    });
    this.scheduleRetry();
  }

  /** Asks for offers again when the next backoff ends (nothing else would: we are suppressed). */
  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.stopped) return;
    const nowMs = Date.now();
    let next = Infinity;
    for (const id of this.jobs.keys()) {
      const at = this.refusals.readyAt(id);
      if (at !== undefined && at > nowMs && at < next) next = at;
    }
    if (!Number.isFinite(next)) return;
    this.retryTimer = setTimeout(
      () => {
        this.syncInterest();
        this.scheduleRetry();
      },
      next - nowMs + 5,
    );
  }

  /** The SDK acknowledges the update once this resolves: after the change is durable. */
  private async onUpdate(status: TaskStatus): Promise<void> {
    this.applyUpdate(status);
    await this.store.durable();
  }

  private applyUpdate(status: TaskStatus): void {
    const jobId = this.owners.get(status.taskId);
    const job = jobId ? this.jobs.get(jobId) : undefined;
    if (!job) {
      // Not one of ours (e.g. the store was lost): a task nobody tracks must not run forever.
      if (!isTerminal(status.state)) {
        this.log.warn("killing a task no job knows", { taskId: status.taskId });
        this.killTask(status.taskId);
      }
      return;
    }
    const current = job.tasks.find((t) => t.taskId === status.taskId);
    if (!current && !isTerminal(status.state)) {
      // A live task of an older attempt (e.g. back from a lost agent): a newer one replaced it.
      this.killTask(status.taskId);
      return;
    }
    this.commit(job, applyTaskStatus(job, status, Date.now() / 1000));
  }

  private onError(error: Error | undefined, message: string): void {
    if (!(error instanceof FrameworkRemovedError)) {
      this.log.warn("error from the master", { message });
      return;
    }
    // The master removed us (failover timeout passed): our tasks were killed. Count them as
    // lost, forget the id and subscribe as a new framework.
    this.log.error("framework was removed by the master; subscribing anew", { message });
    this.store.setFrameworkId(undefined);
    const now = Date.now() / 1000;
    for (const job of this.jobs.values()) {
      for (const t of [...job.tasks]) {
        if (!isLiveTask(t)) continue;
        this.commit(
          job,
          applyTaskStatus(
            job,
            {
              taskId: t.taskId,
              state: TaskState.TASK_LOST,
              agentId: t.agentId,
              frameworkId: "",
              message: "the framework was removed by the master",
              reason: Reason.FRAMEWORK_REMOVED,
              uuid: "",
              timestamp: now,
              source: "framework",
            },
            now,
          ),
        );
      }
    }
    if (this.stopped) return;
    setImmediate(() => {
      if (!this.stopped) this.connect();
    });
  }
}
