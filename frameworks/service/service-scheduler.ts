// The service framework's scheduler: the daemon shell that wires the SDK driver to the parts.
// The parts share one SchedulerState: rollout-tick.ts is the control loop (the AppController's
// decisions, staging, kills, crash backoff), offer-handling.ts places the tick's wants on
// offers, update-handling.ts follows instance state and health, and operator-verbs.ts is what
// the DeployService calls. Instance health comes from the task statuses; the agents run the
// checks.
import type { TransportChoice } from "../../common/tls.js";
import {
  type FrameworkMetrics,
  FrameworkRemovedError,
  type Logger,
  PendingTally,
  RetryBackoff,
  SchedulerDriver,
  type MasterListInput,
} from "../../framework-sdk/index.js";
import type { RolloutMetrics } from "./rollout-metrics.js";
import { AppBook } from "./app-book.js";
import { OfferHandling } from "./offer-handling.js";
import { OperatorVerbs } from "./operator-verbs.js";
import { RolloutTick } from "./rollout-tick.js";
import type { SchedulerState } from "./scheduler-state.js";
import type { ServiceStore } from "./service-store.js";
import type { Stager } from "./stager.js";
import { UpdateHandling } from "./update-handling.js";

export interface ServiceSchedulerInit extends TransportChoice {
  master: MasterListInput;
  token?: string;
  name: string;
  role: string;
  failoverTimeoutSeconds: number;
  endpoint: string;
  /** Tick period, default 250 ms. */
  tickMs?: number;
  /** Crash-loop backoff, default 1 s doubling to 60 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Backoff of an app whose launch the master refused, default 1 s doubling to 60 s. */
  launchBackoff?: { initialMs: number; maxMs: number };
  /** The driver's series (framework-sdk) and the rollout's, on the daemon's registry. */
  metrics?: FrameworkMetrics;
  rolloutMetrics?: RolloutMetrics;
}

export class ServiceScheduler {
  /** What the DeployService calls. */
  readonly verbs: OperatorVerbs;
  private readonly state: SchedulerState;
  private readonly loop: RolloutTick;
  private readonly offers: OfferHandling;
  private readonly updates: UpdateHandling;
  private readonly background = new Set<Promise<unknown>>();

  constructor(
    private readonly store: ServiceStore,
    private readonly stager: Stager,
    private readonly log: Logger,
    private readonly init: ServiceSchedulerInit,
    now: () => number = () => Date.now() / 1000,
  ) {
    const background = this.background;
    this.state = {
      book: new AppBook(store),
      log,
      now,
      agents: new Map(),
      crashes: new Map(),
      refusals: new RetryBackoff(init.launchBackoff ?? { initialMs: 1_000, maxMs: 60_000 }),
      wants: new Map(),
      heldBack: new Map(),
      misfits: new PendingTally(),
      watchers: new Set(),
      driver: undefined,
      stopped: false,
      placing: 0,
      track(p) {
        background.add(p);
        const forget = () => background.delete(p);
        p.then(forget, forget);
      },
    };
    if (init.rolloutMetrics) {
      const rollout = init.rolloutMetrics;
      rollout.attach(this.state.book);
      this.state.book.onDeployment = (d) => rollout.deploymentChanged(d, now());
    }
    this.loop = new RolloutTick(this.state, stager, init);
    this.verbs = new OperatorVerbs(this.state, this.loop);
    this.offers = new OfferHandling(this.state, this.loop);
    this.updates = new UpdateHandling(this.state, this.loop);
  }

  frameworkId(): string | undefined {
    return this.state.driver?.frameworkId;
  }

  /** The driver's subscription secret, for calls made in the framework's name (pins). */
  session(): string | undefined {
    return this.state.driver?.session;
  }

  connect(): void {
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
        id: this.store.frameworkId(),
        secret: this.store.frameworkSecret(),
      },
    });
    this.state.driver = driver;
    driver.on("subscribed", (ev) => this.onSubscribed(ev.frameworkId, ev.secret));
    driver.on("offers", (ev) => this.offers.onOffers(ev.offers));
    driver.on("update", (ev) => this.updates.onUpdate(ev.status));
    driver.on("failure", (ev) => {
      this.state.agents.delete(ev.agentId);
    });
    driver.on("error", (ev) => this.onError(ev.error, ev.message));
    driver.start().catch((err) => {
      if (!(err instanceof FrameworkRemovedError)) this.log.warn("subscription ended", { err });
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.state.stopped = true;
    this.loop.stop();
    this.stager.close();
    await this.state.driver?.stop();
    await Promise.allSettled([...this.background]);
    this.state.book.flush();
  }

  private async onSubscribed(frameworkId: string, secret: string): Promise<void> {
    this.store.setFrameworkId(frameworkId, secret);
    const driver = this.state.driver!;
    const ids = [...this.state.book.live.keys()];
    try {
      await driver.reconcileKnown(ids);
    } catch (err) {
      this.log.warn("reconcile failed", { err });
    }
    this.loop.kick();
  }

  private onError(error: Error | undefined, message: string): void {
    if (!(error instanceof FrameworkRemovedError)) {
      this.log.warn("error from the master", { message });
      return;
    }
    // The master removed us (failover timeout passed) and killed our tasks: forget them and
    // subscribe anew; the apps are started again from their specs.
    const { book } = this.state;
    this.log.error("framework was removed by the master; subscribing anew", { message });
    this.store.setFrameworkId(undefined);
    book.put({ deleteInstances: [...book.live.keys()] });
    book.live.clear();
    if (this.state.stopped) return;
    setImmediate(() => {
      if (!this.state.stopped) this.connect();
    });
  }
}
