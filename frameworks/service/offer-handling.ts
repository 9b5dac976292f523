// Offers in, launches out: the wants of the last tick are placed on the batch of offers, the
// agents that hold an app's release first (the pure placement is offer-placement.ts), every
// instance is persisted before its launch is sent so a restarted framework reconciles it
// instead of launching a second one, and an offer with nothing to place is declined. An app whose launch the master refuses is backed off.
import { randomUUID } from "node:crypto";
import { type Offer, PendingTally } from "../../framework-sdk/index.js";
import type { AgentView } from "./constraints.js";
import { LocalityHold } from "./locality-hold.js";
import { type Placement, placeOnOffers } from "./offer-placement.js";
import { stagedAgents } from "./waves.js";
import type { SchedulerState, TickTrigger } from "./scheduler-state.js";

/** Seconds the master keeps an agent's resources from us after a decline. */
export const REFUSE_SECONDS = 5;

export class OfferHandling {
  private readonly locality = new LocalityHold();

  constructor(
    private readonly state: Pick<
      SchedulerState,
      "book" | "log" | "now" | "agents" | "refusals" | "wants" | "driver" | "placing" | "misfits"
    >,
    private readonly loop: TickTrigger,
  ) {}

  async onOffers(offers: Offer[]): Promise<void> {
    this.state.placing++;
    try {
      await this.handle(offers);
    } finally {
      this.state.placing--;
      this.loop.kick();
    }
  }

  private async handle(offers: Offer[]): Promise<void> {
    const { book, log } = this.state;
    const driver = this.state.driver!;
    const now = this.state.now();
    const decline: string[] = [];
    this.locality.keepOnly(new Set([...this.state.wants].filter(([, w]) => w.count > 0).map(([a]) => a)));
    const batch = offers.map((offer) => {
      const attrs: Record<string, string> = {};
      for (const a of offer.attributes) attrs[a.name] = a.value;
      const agent: AgentView = {
        agentId: offer.agentId,
        hostname: offer.hostname,
        attributes: attrs,
        releases: offer.releases,
      };
      this.state.agents.set(agent.agentId, agent);
      return { offer, agent };
    });
    // Why the wants did not fit this batch: the reasons of the next pending report.
    const tally = new PendingTally();
    const placements = this.place(batch, now, tally);
    this.state.misfits = tally;
    // An app whose launch the master refused is backed off: its instances placed on the
    // batch's later offers are dropped unsent, as if they had never been placed.
    const refused = new Set<string>();
    for (const [i, { offer }] of batch.entries()) {
      const tasks = placements[i]!.tasks.filter((t) => {
        const app = book.live.get(t.taskId)?.rec.app ?? "";
        if (!refused.has(app)) return true;
        this.forget(t.taskId);
        return false;
      });
      if (tasks.length === 0) {
        decline.push(offer.id);
        continue;
      }
      const apps = [...new Set(tasks.map((t) => book.live.get(t.taskId)?.rec.app ?? ""))];
      // On etcd the instances' write is batched: the launch waits for it, and an instance that
      // lost its leadership never sends it (durable() rejects).
      await book.durable();
      try {
        await driver.launch(offer, tasks, { refuseSeconds: 1 });
        log.info("launched", { agent: offer.agentId, tasks: tasks.map((t) => t.taskId).join(",") });
        for (const app of apps) {
          if (this.state.refusals.succeeded(app)) log.info("launches accepted again", { app });
        }
      } catch (err) {
        for (const t of tasks) this.forget(t.taskId);
        for (const app of apps) refused.add(app);
        this.launchRefused(apps, offer, err);
      }
    }
    if (decline.length > 0) {
      await driver
        .decline(decline, { refuseSeconds: REFUSE_SECONDS })
        .catch((err) => log.warn("decline failed", { err }));
    }
  }

  /** Drops an instance whose launch was never sent. */
  private forget(taskId: string): void {
    this.state.book.live.delete(taskId);
    this.state.book.put({ deleteInstances: [taskId] });
  }

  /** Backs the apps of a refused launch off: one log line per refusal, and refusals 1 s doubling to 60 s apart. */
  private launchRefused(apps: string[], offer: Offer, err: unknown): void {
    const nowMs = this.state.now() * 1000;
    for (const app of apps) {
      const { delayMs, step } = this.state.refusals.failed(app, nowMs);
      this.state.wants.delete(app);
      this.state.log.warn("launch refused; backing off", {
        app,
        agent: offer.agentId,
        err,
        step,
        retryInSeconds: Math.round(delayMs / 100) / 10,
      });
      this.loop.wakeAt(nowMs / 1000 + delayMs / 1000);
    }
  }

  /**
   * Places what the wants ask for on the batch (holders of an app's release first:
   * offer-placement.ts) and persists the instances before any launch is sent.
   */
  private place(batch: { offer: Offer; agent: AgentView }[], now: number, tally: PendingTally): Placement[] {
    const { book, agents } = this.state;
    const placements = placeOnOffers({
      offers: batch,
      tally,
      wants: this.state.wants,
      specOf: (app, revision) => {
        const a = book.apps.get(app);
        return a && !a.deleting ? book.revision(app, revision).spec : undefined;
      },
      placedOf: (app, revision) =>
        [...book.live.values()]
          .filter((l) => l.rec.app === app && l.rec.revision === revision && !l.rec.stopping)
          .map(
            (l) =>
              agents.get(l.rec.agentId) ?? {
                agentId: l.rec.agentId,
                hostname: l.rec.hostname,
                attributes: {},
              },
          ),
      known: [...agents.values()],
      now,
      newTaskId: (app, revision) => `${app}.${revision}.${randomUUID().slice(0, 8)}`,
      holdOff: (app, revision, spec, agent) => {
        // Only a deployment's new revision waits: an app kept at its count takes any agent.
        const dep = book.activeDeployment(app);
        if (!spec.release || !dep?.waves || dep.rollingBack || dep.toRevision !== revision) return false;
        const holds = agent.releases?.includes(spec.release) === true || stagedAgents(dep).has(agent.agentId);
        return this.locality.hold(app, holds, now);
      },
    });
    const instances = placements.flatMap((p) => p.instances);
    for (const rec of instances) this.locality.reset(rec.app);
    // Persist before the launches are sent: after a crash, reconciliation finds these.
    if (instances.length > 0) {
      for (const rec of instances) book.live.set(rec.taskId, book.fresh(rec));
      book.put({ instances });
      book.flush();
    }
    return placements;
  }
}
