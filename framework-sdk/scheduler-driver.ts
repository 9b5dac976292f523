// The scheduler driver: the one object a framework talks to the master through.
//
// It keeps one Subscribe stream open for the framework's whole life. When the stream breaks
// (master restart, network, silence past three heartbeat intervals) it re-subscribes with
// the framework id it was given, with backoff, until stop(). With several masters it
// subscribes to the leader: a standby's answer moves it to the leader at once, a dead master
// to the next; only a round in which every master failed backs off (docs/ha.md). Events reach the framework one
// at a time, in the order the master sent them, through typed `on(...)` listeners and
// through `events()` async iterators. Unary calls are promises that reject with typed errors.
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import os from "node:os";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../common/grpc.js";
import { ClientPool, callLeader, triesAnotherMaster } from "../common/leader-calls.js";
import { electionPollDelay, LeaderFollower } from "../common/leader-follower.js";
import { leaderHint } from "../common/leader-redirect.js";
import { MasterListError, type MasterListInput, parseMasterList } from "../common/master-list.js";
import { createLogger, type Logger } from "../common/logger.js";
import {
  channelCredentials,
  chooseTransport,
  INSECURE_WARNING,
  type TlsMaterial,
  type TransportChoice,
} from "../common/tls.js";
import type {
  Filters,
  FrameworkInfo,
  Offer,
  PendingWork,
  TaskInfo,
  TaskStatus,
} from "../proto/gen/yard/v1/common.js";
import {
  type Event,
  Event_Type,
  type FrameworkEvent,
  Operation_Type,
  SchedulerServiceClient,
} from "../proto/gen/yard/v1/scheduler.js";
import { type BackoffOptions, backoffDelay } from "./backoff.js";
import type { DriverEvent, DriverEventMap, DriverEventName, DriverListener } from "./driver-events.js";
import {
  DriverStoppedError,
  FrameworkRemovedError,
  GrpcStatus,
  NotSubscribedError,
  SchedulerCallError,
  SdkArgumentError,
  toSchedulerCallError,
} from "./errors.js";
import { EventQueue } from "./event-queue.js";
import { FrameworkMetrics } from "./framework-metrics.js";
import { PendingReporter } from "./pending-reporter.js";
import { EventPublisher } from "./event-publisher.js";

/** Heartbeat interval assumed until the master says otherwise (protocol default). */
const DEFAULT_HEARTBEAT_SECONDS = 5;
/** Missing this many heartbeats in a row means the stream is dead. */
const MISSED_HEARTBEATS = 3;

/** The driver's master option as a list; an SdkArgumentError naming `master` when it is not one. */
export function masterList(master: MasterListInput): string[] {
  try {
    return parseMasterList(master, "master");
  } catch (err) {
    if (err instanceof MasterListError) {
      throw new SdkArgumentError(
        "master",
        err.kind === "entry"
          ? `${JSON.stringify(err.value)} is not host:port (or several: "a:7070,b:7070")`
          : `${JSON.stringify(err.value)}: ${err.reason}`,
      );
    }
    throw err;
  }
}

export interface FrameworkOptions {
  name: string;
  /** Default "*". */
  role?: string;
  /** How long the master keeps the framework's tasks while it is away. Default 60 s. */
  failoverTimeoutSeconds?: number;
  /** Set to fail over: re-subscribe as a framework the master already knows. */
  id?: string;
  /**
   * With `id`: the framework secret the master issued at the framework's first registration
   * (the `subscribed` event's `secret`). The master refuses a failover without it.
   */
  secret?: string;
  /** gRPC endpoint of an API the framework serves itself, found by operators through the master. */
  endpoint?: string;
  labels?: Record<string, string>;
  /**
   * The user the framework's process tasks run as on the agents. Default empty: each agent's
   * own task user (an unprivileged `yard-task`), never the framework's OS user, which would be
   * root for a framework started as root.
   */
  user?: string;
  /** Default: this host's name. */
  hostname?: string;
}

/**
 * `tls`: the framework's certificate (kind framework) and the cluster CA; the master must
 * present a master certificate. Or `insecure: true` for a master started with --insecure.
 * Neither is an SdkArgumentError: there is no silent plaintext.
 */
export interface SchedulerDriverOptions extends TransportChoice {
  /**
   * host:port of the master's gRPC endpoint, e.g. "127.0.0.1:7070"; or several masters
   * ("a:7070,b:7070,c:7070" or a list), among which the driver finds and follows the leader.
   */
  master: MasterListInput;
  framework: FrameworkOptions;
  /** Shared secret of the cluster, sent as `authorization: Bearer` metadata. */
  token?: string;
  /** Acknowledge each status update once the `update` listeners ran. Default true. */
  autoAcknowledge?: boolean;
  logger?: Logger;
  /** Re-subscription delays, default 200 ms doubling to 5 s. */
  backoff?: BackoffOptions;
  /**
   * Where the driver records its series (offers, decisions, updates, reconnects); by default
   * a registry of its own, readable as `driver.metrics.registry`.
   */
  metrics?: FrameworkMetrics;
  /** Deadline of each unary call, default 30 s. */
  callDeadlineMs?: number;
}

/** How one Subscribe stream ended, and the master it was dialled to. */
type StreamEnd = { subscribed: boolean; error: unknown; address: string };

export class SchedulerDriver extends EventEmitter {
  private readonly clients: ClientPool<SchedulerServiceClient>;
  private readonly follower: LeaderFollower;
  private readonly tls: TlsMaterial | null;
  private readonly log: Logger;
  private readonly autoAcknowledge: boolean;
  private readonly info: FrameworkInfo;
  private id: string | undefined;
  private state: "new" | "running" | "stopped" = "new";
  /** Set while Teardown is under way: the master ends the stream on purpose then. */
  private tearingDown = false;
  private stream: ClientReadableStream<Event> | undefined;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private dispatching: Promise<void> = Promise.resolve();
  /** Set inside a listener call: stop() there must not wait for the delivery that awaits it. */
  private readonly inListener = new AsyncLocalStorage<true>();
  private stoppedFromListener = false;
  /** What setInterest() was last told, and what the master was last told (undefined: unknown). */
  private interestWanted: boolean | undefined;
  private interestSent: boolean | undefined;
  private interestSync: Promise<void> = Promise.resolve();
  private readonly queues = new Set<EventQueue<DriverEvent>>();
  private sessionSecret: string | undefined;
  private frameworkSecret: string;
  private readonly pendingAcks: { taskId: string; uuid: string }[] = [];
  private startWaiter: { resolve: (id: string) => void; reject: (err: Error) => void } | undefined;
  private readonly pendingReporter: PendingReporter;
  private readonly eventPublisher: EventPublisher;

  /** This driver's Prometheus series (framework-metrics.ts). */
  readonly metrics: FrameworkMetrics;

  constructor(private readonly opts: SchedulerDriverOptions) {
    super();
    this.metrics = opts.metrics ?? new FrameworkMetrics();
    this.follower = new LeaderFollower(masterList(opts.master));
    const fw = opts.framework;
    if (!fw || typeof fw.name !== "string" || fw.name.trim() === "") {
      throw new SdkArgumentError("framework.name", `${JSON.stringify(fw?.name)} must be a non-empty name`);
    }
    const failover = fw.failoverTimeoutSeconds ?? 60;
    if (!Number.isFinite(failover) || failover < 0) {
      throw new SdkArgumentError(
        "framework.failoverTimeoutSeconds",
        `${failover} is not a non-negative number`,
      );
    }
    try {
      this.tls = chooseTransport(opts, "SchedulerDriver");
    } catch (err) {
      throw new SdkArgumentError("tls", (err as Error).message);
    }
    this.log = opts.logger ?? createLogger("framework-sdk");
    this.pendingReporter = new PendingReporter(
      async (work) => {
        await this.call("ReportPending", this.client.reportPending, {
          frameworkId: this.requireId("ReportPending"),
          work,
        });
      },
      () => this.state === "running" && this.id !== undefined,
      this.log,
    );
    this.eventPublisher = new EventPublisher(
      async (events) => {
        await this.call("PublishEvents", this.client.publishEvents, {
          frameworkId: this.requireId("PublishEvents"),
          events,
        });
      },
      () => this.state === "running" && this.id !== undefined,
      this.log,
    );
    this.autoAcknowledge = opts.autoAcknowledge ?? true;
    this.id = fw.id || undefined;
    this.frameworkSecret = fw.secret ?? "";
    this.info = {
      id: fw.id ?? "",
      name: fw.name,
      role: fw.role ?? "*",
      failoverTimeoutSeconds: failover,
      user: fw.user ?? "",
      hostname: fw.hostname ?? os.hostname(),
      labels: { ...(fw.labels ?? {}) },
      endpoint: fw.endpoint ?? "",
    };
    const creds = channelCredentials(this.tls, { serverKind: "master" });
    this.clients = new ClientPool((address) => new SchedulerServiceClient(address, creds, CHANNEL_OPTIONS));
  }

  /** The master the driver talks to now: the leader, once subscribed. */
  get master(): string {
    return this.follower.address();
  }

  /** The client of the master dialled now; its methods serve for any master's client. */
  private get client(): SchedulerServiceClient {
    return this.clients.get(this.follower.address());
  }

  /** The transport this driver uses, for other clients of the same framework (ReleaseStaging). */
  get transport(): TransportChoice {
    return this.tls ? { tls: this.tls } : { insecure: true };
  }

  /** The framework id, once the master gave one (or the one passed to fail over). */
  /**
   * The secret of the current subscription, sent with every call so that the master knows the
   * call comes from this framework (ReleaseStaging sends it with setPins too). Never log it.
   */
  get session(): string | undefined {
    return this.sessionSecret;
  }

  get frameworkId(): string | undefined {
    return this.id;
  }

  /** The framework secret (failover proof), once known. Never log it. */
  get secret(): string | undefined {
    return this.frameworkSecret || undefined;
  }

  override on<K extends DriverEventName>(event: K, listener: DriverListener<K>): this {
    return super.on(event, listener);
  }

  override once<K extends DriverEventName>(event: K, listener: DriverListener<K>): this {
    return super.once(event, listener);
  }

  override off<K extends DriverEventName>(event: K, listener: DriverListener<K>): this {
    return super.off(event, listener);
  }

  /**
   * Every event from now on, as an async iterator; it ends when the driver stops. Note that
   * auto-acknowledgement does not wait for iterator consumers: a framework that needs an
   * update handled before it is acknowledged sets autoAcknowledge false and acknowledges.
   */
  events(): AsyncIterableIterator<DriverEvent> {
    const q: EventQueue<DriverEvent> = new EventQueue(() => this.queues.delete(q));
    if (this.state === "stopped") q.close();
    else this.queues.add(q);
    return q;
  }

  /**
   * Subscribes and resolves with the framework id once SUBSCRIBED. It keeps trying while the
   * master is unreachable; it rejects on a fatal answer (FrameworkRemovedError, a wrong token)
   * or when stop() is called first.
   */
  start(): Promise<string> {
    if (this.state !== "new") return Promise.reject(new Error("SchedulerDriver.start() may be called once"));
    this.state = "running";
    if (!this.tls) this.log.warn(INSECURE_WARNING);
    const subscribed = new Promise<string>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.loop = this.runLoop().catch((err) => this.log.error("subscription loop failed", { err }));
    return subscribed;
  }

  /**
   * Closes the stream without tearing the framework down: its tasks keep running and a new
   * driver with the same framework id can take over within the failover timeout.
   */
  /**
   * Called from outside a listener, it resolves once the events received before it have been
   * delivered. Called from inside a listener (or teardown() there), it cannot wait for the
   * delivery it is part of: it resolves once the stream is closed, and the events queued
   * behind the current one are dropped. Either way no listener is called after it resolves,
   * except the one that called it, which runs on.
   */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    const wasRunning = this.state === "running";
    this.state = "stopped";
    this.pendingReporter.stop();
    this.eventPublisher.stop();
    this.stream?.cancel();
    this.wakeUp?.();
    if (wasRunning) await this.loop;
    if (this.inListener.getStore() === true) this.stoppedFromListener = true;
    else await this.dispatching;
    await this.interestSync;
    this.closeDown();
  }

  private closeDown(): void {
    this.settleStart(undefined, new DriverStoppedError("start"));
    for (const q of this.queues) q.close();
    this.queues.clear();
    this.clients.closeAll();
  }

  /** Launches `tasks` on the given offers (all on one agent) in one LAUNCH operation. */
  async accept(
    offerIds: readonly string[],
    tasks: readonly TaskInfo[],
    filters?: Filters,
  ): Promise<string[]> {
    const frameworkId = this.requireId("Accept");
    const res = await this.call("Accept", this.client.accept, {
      frameworkId,
      offerIds: [...offerIds],
      operations: tasks.length > 0 ? [{ type: Operation_Type.LAUNCH, launch: { tasks: [...tasks] } }] : [],
      filters,
    });
    this.metrics.offersDecided(offerIds, tasks.length > 0 ? "accepted" : "declined");
    return res.taskIds;
  }

  /** Sugar for accept([offer.id], tasks) that places the tasks on the offer's agent. */
  launch(offer: Offer, tasks: readonly TaskInfo[], filters?: Filters): Promise<string[]> {
    const placed = tasks.map((t) => ({ ...t, agentId: t.agentId || offer.agentId }));
    return this.accept([offer.id], placed, filters);
  }

  async decline(offerIds: readonly string[], filters?: Filters): Promise<void> {
    const frameworkId = this.requireId("Decline");
    await this.call("Decline", this.client.decline, { frameworkId, offerIds: [...offerIds], filters });
    this.metrics.offersDecided(offerIds, "declined");
  }

  /** Kills a task; SIGKILL after `graceSeconds` when given, else after the task's own grace. */
  async kill(taskId: string, graceSeconds?: number): Promise<void> {
    const frameworkId = this.requireId("Kill");
    await this.call("Kill", this.client.kill, { frameworkId, taskId, graceSeconds });
  }

  /** Asks for the latest state of these tasks (all of the framework's when empty), as `update` events. */
  async reconcile(taskIds: readonly string[] = []): Promise<void> {
    const frameworkId = this.requireId("Reconcile");
    await this.call("Reconcile", this.client.reconcile, { frameworkId, taskIds: [...taskIds] });
  }

  /**
   * The reconciliation a framework runs after (re-)subscribing: explicit for the tasks it
   * knows (those the master never recorded come back LOST, REASON_TASK_UNKNOWN), then
   * implicit (every task the master has for it, including any the framework forgot).
   */
  async reconcileKnown(knownTaskIds: readonly string[]): Promise<void> {
    if (knownTaskIds.length > 0) await this.reconcile(knownTaskIds);
    await this.reconcile([]);
  }

  /** Acknowledges a status update; updates without a uuid (reconciliation answers) need none. */
  async acknowledge(status: TaskStatus): Promise<void> {
    if (!status.uuid) return;
    const frameworkId = status.frameworkId || this.requireId("Acknowledge");
    await this.call("Acknowledge", this.client.acknowledge, {
      frameworkId,
      taskId: status.taskId,
      uuid: status.uuid,
      acks: [],
    });
  }

  /** Sends the acknowledgements queued during this tick in one Acknowledge call. */
  private queueAcknowledgement(status: TaskStatus): void {
    this.pendingAcks.push({ taskId: status.taskId, uuid: status.uuid });
    if (this.pendingAcks.length > 1) return;
    setImmediate(() => {
      const acks = this.pendingAcks.splice(0);
      if (acks.length === 0 || !this.id) return;
      this.call("Acknowledge", this.client.acknowledge, {
        frameworkId: this.id,
        taskId: "",
        uuid: "",
        acks,
      }).catch((err) =>
        this.log.warn("acknowledge failed; the master will resend the updates", {
          updates: acks.length,
          err,
        }),
      );
    });
  }

  /**
   * Whether the framework wants offers now: the one call a framework needs instead of its own
   * suppress/revive bookkeeping. The master hears only changes (suppress when it turns false,
   * revive when it turns true), one call at a time and in order, and again after each
   * re-subscription. It never rejects: a failed call is logged and sent again on the next
   * setInterest() or subscription.
   */
  setInterest(wanted: boolean): Promise<void> {
    this.interestWanted = wanted;
    return this.syncInterest();
  }

  private syncInterest(): Promise<void> {
    this.interestSync = this.interestSync
      .then(async () => {
        const wanted = this.interestWanted;
        if (this.state !== "running" || !this.id || wanted === undefined || wanted === this.interestSent)
          return;
        this.interestSent = wanted;
        if (wanted) await this.revive();
        else await this.suppress();
      })
      .catch((err) => {
        this.interestSent = undefined;
        if (this.state === "running") {
          this.log.warn("suppress/revive failed; sent again at the next change", {
            err,
          });
        }
      });
    return this.interestSync;
  }

  /**
   * What the framework waits to place and why the offers it saw did not fit (build it with a
   * PendingTally): the framework's half of `yardctl explain`. Call it as often as the state
   * changes; the master hears only changes, at most once a second, and the whole state again
   * after a re-subscription. An empty list: nothing waits. Never rejects.
   */
  reportPending(work: PendingWork[]): void {
    this.pendingReporter.set(work);
  }

  /**
   * Events of the framework's own (deployments, steps, health, staging) into the cluster's
   * event stream (`yardctl events`), in order, batched, held while not subscribed. Types are
   * UPPER_SNAKE_CASE and not the master's own (AGENT_*, FRAMEWORK_*, TASK_*, AUDIT, WORK_*).
   * Never rejects.
   */
  publishEvents(events: (Partial<FrameworkEvent> & { type: string })[]): void {
    this.eventPublisher.publish(
      events.map((e) => ({ object: "", message: "", taskId: "", agentId: "", ...e })),
    );
  }

  /** No more offers until revive(). */
  async suppress(): Promise<void> {
    const frameworkId = this.requireId("Suppress");
    await this.call("Suppress", this.client.suppress, { frameworkId });
  }

  /** Offers again, and clears the framework's decline filters. */
  async revive(): Promise<void> {
    const frameworkId = this.requireId("Revive");
    await this.call("Revive", this.client.revive, { frameworkId });
  }

  /** Kills every task of the framework, removes it from the master, and stops the driver. */
  async teardown(): Promise<void> {
    const frameworkId = this.requireId("Teardown");
    this.tearingDown = true;
    try {
      await this.call("Teardown", this.client.teardown, { frameworkId });
    } catch (err) {
      this.tearingDown = false;
      throw err;
    }
    await this.stop();
  }

  private requireId(method: string): string {
    if (!this.id) throw new NotSubscribedError(method);
    return this.id;
  }

  /**
   * One unary call to the master dialled now; a standby's answer that names the leader is
   * followed once (a failover under way), anything else is the call's outcome. The
   * subscription moves to the leader on its own.
   */
  private async call<Req, Res>(
    method: string,
    fn: (req: Req, md: import("@grpc/grpc-js").Metadata, o: object, cb: (e: any, r: Res) => void) => unknown,
    req: Req,
  ): Promise<Res> {
    if (this.state === "stopped") throw new DriverStoppedError(method);
    const once = (address: string) =>
      unary(
        fn,
        this.clients.get(address),
        req,
        authMetadata(this.opts.token, this.sessionSecret),
        this.opts.callDeadlineMs ?? 30_000,
      );
    try {
      // A standby's redirect or a dead master (a failover under way): the next master.
      return await callLeader(this.follower, once, { deadlineMs: this.opts.callDeadlineMs ?? 30_000 });
    } catch (err) {
      throw toSchedulerCallError(method, err);
    }
  }

  private settleStart(id: string | undefined, err?: Error): void {
    const w = this.startWaiter;
    if (!w) return;
    this.startWaiter = undefined;
    if (id !== undefined) w.resolve(id);
    else w.reject(err ?? new DriverStoppedError("start"));
  }

  private async runLoop(): Promise<void> {
    let attempt = 0;
    while (this.state === "running") {
      const end = await this.subscribeOnce();
      let electionUnderWay = false;
      this.stream = undefined;
      if (this.state !== "running") break;
      if (this.tearingDown) {
        await this.sleep(1_000); // stop() follows at once and wakes this up
        continue;
      }
      const reason = toSchedulerCallError("Subscribe", end.error);
      if (end.subscribed) {
        attempt = 0;
        this.dispatch("disconnected", { reason: reason.details });
      }
      if (leaderHint(end.error).notLeader || triesAnotherMaster(reason)) {
        // A standby, or a master gone: the leader (named, or the next master) at once; a
        // round in which every master failed backs off like any broken stream.
        const from = end.address;
        const step = this.follower.failed(end.error, end.address);
        electionUnderWay = step.electionUnderWay;
        if (!step.roundFailed) {
          this.log.info(step.redirected ? "following the leader" : "trying the next master", {
            from,
            to: step.address,
            reason: reason.details,
          });
          continue;
        }
      }
      const fatal = this.fatalError(reason);
      if (fatal) {
        this.log.error("subscription refused; not retrying", { err: fatal });
        this.settleStart(undefined, fatal);
        this.dispatch("error", { message: fatal.message, error: fatal });
        this.state = "stopped";
        // Not awaited: an error listener may call stop(), which awaits this loop.
        this.dispatching = this.dispatching.then(() => this.closeDown());
        return;
      }
      // Standbys answered in the failed round: an election is under way; look again soon.
      const delay = electionUnderWay ? electionPollDelay() : backoffDelay(attempt++, this.opts.backoff);
      this.log.warn("event stream broken; re-subscribing", { reason: reason.message, inMs: delay });
      await this.sleep(delay);
    }
  }

  /** Which stream endings are final: retrying them cannot succeed or would fight another instance. */
  private fatalError(err: SchedulerCallError): Error | undefined {
    switch (err.code) {
      case GrpcStatus.NOT_FOUND:
        return this.info.id ? new FrameworkRemovedError(this.info.id, err.details, { cause: err }) : err;
      case GrpcStatus.ABORTED: // superseded by a newer subscription with our id
      case GrpcStatus.UNAUTHENTICATED:
      case GrpcStatus.PERMISSION_DENIED:
      case GrpcStatus.INVALID_ARGUMENT:
        return err;
      default:
        return undefined;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** One Subscribe stream, from open to end; resolves how it ended. */
  private subscribeOnce(): Promise<StreamEnd> {
    return new Promise((resolve) => {
      const resubscribing = this.info.id !== "";
      const address = this.follower.address();
      const call = this.clients
        .get(address)
        .subscribe(
          { frameworkInfo: { ...this.info }, frameworkSecret: this.info.id ? this.frameworkSecret : "" },
          authMetadata(this.opts.token),
        );
      this.stream = call;
      let subscribed = false;
      let finished = false;
      let silenceMs = DEFAULT_HEARTBEAT_SECONDS * MISSED_HEARTBEATS * 1000;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (error: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(watchdog);
        resolve({ subscribed, error, address });
      };
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          finish(
            new SchedulerCallError("Subscribe", GrpcStatus.DEADLINE_EXCEEDED, `no event for ${silenceMs} ms`),
          );
          call.cancel();
        }, silenceMs);
      };
      arm();
      call.on("data", (ev: Event) => {
        if (finished) return;
        arm();
        if (ev.type === Event_Type.SUBSCRIBED && ev.subscribed) {
          subscribed = true;
          this.follower.succeeded(address);
          const hb = ev.subscribed.heartbeatIntervalSeconds || DEFAULT_HEARTBEAT_SECONDS;
          silenceMs = Math.max(50, hb * MISSED_HEARTBEATS * 1000);
          arm();
        }
        this.onEvent(ev, resubscribing);
      });
      call.on("error", (err) => finish(err));
      call.on("end", () =>
        finish(
          new SchedulerCallError("Subscribe", GrpcStatus.UNAVAILABLE, "the master ended the event stream"),
        ),
      );
    });
  }

  /** Turns one wire event into a driver event. Never throws: a bad event is logged and dropped. */
  private onEvent(ev: Event, resubscribing: boolean): void {
    switch (ev.type) {
      case Event_Type.SUBSCRIBED: {
        const s = ev.subscribed;
        if (!s?.frameworkId) {
          this.log.warn("SUBSCRIBED event without a framework id; ignored");
          return;
        }
        this.id = s.frameworkId;
        this.info.id = s.frameworkId;
        this.sessionSecret = s.session || undefined;
        // Issued once, at registration (or to a framework registered before secrets existed).
        if (s.frameworkSecret) this.frameworkSecret = s.frameworkSecret;
        // A new subscription: tell the master again what the framework wants.
        this.interestSent = undefined;
        void this.syncInterest();
        this.pendingReporter.resend();
        this.eventPublisher.resume();
        this.log.info("subscribed", { frameworkId: s.frameworkId, reconnected: resubscribing });
        if (resubscribing) this.metrics.reconnected();
        this.settleStart(s.frameworkId);
        this.dispatch("subscribed", {
          frameworkId: s.frameworkId,
          reconnected: resubscribing,
          heartbeatIntervalSeconds: s.heartbeatIntervalSeconds || DEFAULT_HEARTBEAT_SECONDS,
          secret: this.frameworkSecret,
        });
        return;
      }
      case Event_Type.HEARTBEAT:
        return;
      case Event_Type.OFFERS:
        this.metrics.offersReceived((ev.offers?.offers ?? []).map((o) => o.id));
        this.dispatch("offers", { offers: ev.offers?.offers ?? [] });
        return;
      case Event_Type.RESCIND:
        if (ev.rescind?.offerId) this.metrics.offersDecided([ev.rescind.offerId], "rescinded");
        this.dispatch("rescind", { offerId: ev.rescind?.offerId ?? "", reason: ev.rescind?.reason ?? "" });
        return;
      case Event_Type.UPDATE: {
        const first = ev.update?.status;
        for (const status of first ? [first, ...(ev.update?.statuses ?? [])] : (ev.update?.statuses ?? [])) {
          if (!status.taskId) {
            this.log.warn("UPDATE event without a task status; ignored");
            continue;
          }
          this.metrics.updateReceived(status.state);
          this.dispatch("update", { status });
        }
        return;
      }
      case Event_Type.FAILURE:
        this.dispatch("failure", { agentId: ev.failure?.agentId ?? "", message: ev.failure?.message ?? "" });
        return;
      case Event_Type.ERROR:
        this.dispatch("error", { message: ev.error?.message ?? "error from the master" });
        return;
      default:
        this.log.debug("unknown event type; ignored", { type: ev.type });
    }
  }

  /** Queues delivery behind the events before it, so that listeners see them in order. */
  private dispatch<K extends DriverEventName>(type: K, payload: DriverEventMap[K]): void {
    this.dispatching = this.dispatching
      .then(() => this.deliver(type, payload))
      .catch((err) => this.log.error("event delivery failed", { type, err }));
  }

  private async deliver<K extends DriverEventName>(type: K, payload: DriverEventMap[K]): Promise<void> {
    // Stopped from inside a listener: what was queued behind it is not delivered.
    if (this.stoppedFromListener) return;
    for (const q of this.queues) q.push({ type, ...payload } as DriverEvent);
    const listeners = this.rawListeners(type) as ((p: DriverEventMap[K]) => unknown)[];
    if (type === "error" && listeners.length === 0 && this.queues.size === 0) {
      this.log.error("driver error (no error listener)", {
        message: (payload as DriverEventMap["error"]).message,
      });
    }
    let allOk = true;
    for (const listener of listeners) {
      if (this.stoppedFromListener) return;
      try {
        await this.inListener.run(true, () => listener.call(this, payload));
      } catch (err) {
        allOk = false;
        this.log.error(`${type} listener threw`, { err });
      }
    }
    if (type === "update" && this.autoAcknowledge && this.state === "running" && !this.tearingDown) {
      const status = (payload as DriverEventMap["update"]).status;
      if (!status.uuid) return;
      if (!allOk) {
        this.log.warn("update not acknowledged because a listener failed; the master will resend it", {
          taskId: status.taskId,
        });
        return;
      }
      // Not awaited: acknowledgements of one tick go to the master in one call, and the next
      // event need not wait for the round trip.
      this.queueAcknowledgement(status);
    }
  }
}
