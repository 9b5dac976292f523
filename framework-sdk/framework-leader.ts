// Running a framework as several instances on one etcd, one of them active: each instance
// campaigns under `<prefix>/frameworks/<name>/election/` with its API address as its value, and
// follows the framework's state under `<prefix>/frameworks/<name>/state/` (a warm copy). The
// one that wins promotes its state copy with its leadership key as the fence and starts
// (`lead`): its SchedulerDriver subscribes with the framework id and secret kept in that state,
// so a takeover is a failover of the same framework, not a new one.
//
// A term ends when the leadership is lost (the lease could not be kept alive for about 2/3 of
// its TTL, before etcd can elect anyone else) or when a fenced state write is refused (another
// instance leads). Then `active` turns false at once (the StandbyGate answers with the
// redirect from that moment), the run is stopped (its driver closes its stream; the tasks keep
// running), and the instance campaigns again as a standby with a fresh copy of the state.
import type { Etcd3 } from "etcd3";
import { Campaign, type Leadership } from "../common/etcd/election.js";
import type { Logger } from "../common/logger.js";
import { backoffDelay } from "./backoff.js";
import { EtcdStateKv } from "./state/etcd-state-kv.js";

/** Seconds; like the masters' `--etcd-lease-ttl`. */
export const DEFAULT_FRAMEWORK_LEASE_TTL = 5;
export const DEFAULT_ETCD_PREFIX = "/yard";

/** How a framework daemon is told to run as one of several instances on etcd. */
export interface FrameworkEtcdOptions {
  /** etcd client URLs, e.g. ["http://10.0.0.1:2379"]. */
  endpoints: string[];
  /** Default "/yard". */
  prefix?: string;
  /** Seconds, default 5. */
  leaseTtlSeconds?: number;
}

export interface FrameworkLeaderInit {
  client: Etcd3;
  /** The cluster's etcd prefix, default "/yard". */
  prefix?: string;
  /** The framework's name: its keys live under `<prefix>/frameworks/<name>/`. */
  name: string;
  /** This instance's API address (host:port): what standbys redirect callers to. */
  address: string;
  /** Lease TTL in seconds, default 5. */
  ttlSeconds?: number;
  logger: Logger;
}

/** What an active term gets: its leadership and the framework's state, writable and fenced. */
export interface ActiveTerm {
  leadership: Leadership;
  state: EtcdStateKv;
}

/** What `lead` started; stopped when the term ends. It must not tear the framework down. */
export interface ActiveRun {
  stop(): Promise<void>;
}

export class FrameworkLeader {
  private active = false;
  private leadership: Leadership | undefined;
  private leaderValue: string | undefined;
  private stopped = false;
  private wakeStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => {
    this.wakeStop = resolve;
  });
  private loop: Promise<void> | undefined;
  private readonly base: string;

  constructor(private readonly init: FrameworkLeaderInit) {
    const prefix = (init.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, "");
    this.base = `${prefix}/frameworks/${init.name}`;
  }

  /**
   * This instance is active: its API answers and its driver runs. Also false as soon as the
   * lease's keepalive deadline has passed, before the timer that notices it has run (a
   * process resumed from SIGSTOP serves pending calls before its timers).
   */
  get isActive(): boolean {
    return this.active && this.leadership?.held() === true;
  }

  /** The active instance's API address as last observed (this one's while active). */
  leaderAddress(): string | undefined {
    return this.active ? this.init.address : this.leaderValue;
  }

  /** Campaigns until stop(); `lead` starts the framework for each won term. */
  start(lead: (term: ActiveTerm) => Promise<ActiveRun>): void {
    if (this.loop) throw new Error("FrameworkLeader.start called twice");
    this.loop = this.run(lead);
  }

  /** Stops the active run (if any), resigns so that a standby takes over at once, and returns. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeStop();
    await this.loop;
  }

  private async run(lead: (term: ActiveTerm) => Promise<ActiveRun>): Promise<void> {
    const log = this.init.logger;
    let failures = 0;
    while (!this.stopped) {
      let state: EtcdStateKv | undefined;
      let campaign: Campaign | undefined;
      let unobserve: (() => void) | undefined;
      try {
        state = await EtcdStateKv.open({
          client: this.init.client,
          prefix: `${this.base}/state/`,
          logger: log,
        });
        campaign = new Campaign({
          client: this.init.client,
          prefix: `${this.base}/election`,
          value: this.init.address,
          ttlSeconds: this.init.ttlSeconds ?? DEFAULT_FRAMEWORK_LEASE_TTL,
          logger: log,
        });
        unobserve = campaign.observe((value) => {
          this.leaderValue = value;
        });
        const won = await Promise.race([campaign.won(), this.stopRequested.then(() => undefined)]);
        if (!won || this.stopped) break;
        await state.promote({ key: won.key, createRevision: won.createRevision });
        failures = 0;
        this.leadership = won;
        this.active = true;
        log.info("this instance leads the framework", { term: won.term, address: this.init.address });
        let activeRun: ActiveRun | undefined;
        try {
          activeRun = await lead({ leadership: won, state });
          const why = await Promise.race([
            won.lost.then((err) => `leadership lost: ${err.message}`),
            state.lost.then((err) => `state write refused: ${err.message}`),
            this.stopRequested.then(() => "stopping"),
          ]);
          // From here the API redirects; then the driver and the rest stop.
          this.active = false;
          if (why !== "stopping") log.warn("this instance no longer leads the framework", { why });
        } finally {
          this.active = false;
          await activeRun?.stop();
        }
      } catch (err) {
        this.active = false;
        if (this.stopped) break;
        const delay = backoffDelay(failures++, { initialMs: 500, maxMs: 10_000 });
        log.warn("framework election failed; retrying", { err, retryInMs: delay });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise((r) => (timer = setTimeout(r, delay))), this.stopRequested]);
        clearTimeout(timer);
      } finally {
        unobserve?.();
        await campaign?.resign().catch((err) => log.debug("resign failed", { err }));
        await state?.close().catch((err) => log.debug("closing the state failed", { err }));
      }
    }
  }
}
