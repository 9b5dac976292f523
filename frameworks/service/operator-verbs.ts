// What an operator can ask of the service framework (through the DeployService): apply a
// spec, undo, scale, pause, resume, promote, abort, delete, and the views of the apps. Each
// verb changes the app book and kicks the loop; the tick carries the change out.
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../common/errors.js";
import { LIMITS } from "../../common/limits.js";
import type { AppView } from "./app-book.js";
import { type AppSpec, canonical, parseAppSpec, SpecError } from "./app-spec.js";
import type { SchedulerState, Watcher } from "./scheduler-state.js";
import type { AppRecord, DeploymentRecord, RevisionRecord } from "./service-state.js";

export interface ApplyResult {
  name: string;
  unchanged: boolean;
  scaled: boolean;
  revision: number;
  deploymentId: string;
}

/** What the verbs need of the loop. */
export interface VerbLoop {
  kick(): void;
  fail(app: AppRecord, dep: DeploymentRecord, why: string, now: number, aborted?: boolean): void;
}

export class OperatorVerbs {
  constructor(
    private readonly state: Pick<
      SchedulerState,
      "book" | "log" | "now" | "crashes" | "refusals" | "watchers"
    >,
    private readonly loop: VerbLoop,
  ) {}

  apply(specYaml: string, fileName = "spec"): ApplyResult {
    let spec: AppSpec;
    try {
      spec = parseAppSpec(specYaml);
    } catch (err) {
      if (err instanceof SpecError) {
        throw new InvalidArgumentError(
          fileName,
          `${err.problems.length} problem(s):\n  ${err.problems.join("\n  ")}`,
        );
      }
      throw err;
    }
    const { book } = this.state;
    const now = this.state.now();
    const app = book.apps.get(spec.name);
    if (app?.deleting)
      throw new FailedPreconditionError(`app ${spec.name} is being deleted; apply it again once it is gone`);
    if (app) {
      const cur = book.revision(app.name, app.revision).spec;
      if (canonical({ ...cur, instances: 0 }) === canonical({ ...spec, instances: 0 })) {
        if (spec.instances === app.instances) {
          return { name: app.name, unchanged: true, scaled: false, revision: app.revision, deploymentId: "" };
        }
        this.scale(app.name, spec.instances);
        return { name: app.name, unchanged: false, scaled: true, revision: app.revision, deploymentId: "" };
      }
    }
    const dep = this.newRevision(spec, specYaml, app ? "apply" : "created", now);
    return { name: dep.app, unchanged: false, scaled: false, revision: dep.toRevision, deploymentId: dep.id };
  }

  undo(name: string, toRevision: number): ApplyResult {
    const { book } = this.state;
    const app = book.requireApp(name);
    let to = toRevision;
    if (!to) {
      const prev = [...(book.revisions.get(name) ?? [])].reverse().find((r) => r.number < app.revision);
      if (!prev) throw new FailedPreconditionError(`app ${name} has no revision before ${app.revision}`);
      to = prev.number;
    }
    const rev = book.revisions.get(name)?.find((r) => r.number === to);
    if (!rev) throw new NotFoundError(`app ${name} has no revision ${to}`);
    if (to === app.revision) throw new FailedPreconditionError(`app ${name} already runs revision ${to}`);
    const dep = this.newRevision(
      { ...rev.spec, instances: app.instances },
      rev.specYaml,
      `undo to revision ${to}`,
      this.state.now(),
    );
    return { name: dep.app, unchanged: false, scaled: false, revision: dep.toRevision, deploymentId: dep.id };
  }

  scale(name: string, instances: number): void {
    const app = this.state.book.requireApp(name);
    if (!Number.isInteger(instances) || instances < 0) {
      throw new InvalidArgumentError("instances", `${instances} is not a whole number >= 0`);
    }
    if (instances > LIMITS.instances) {
      throw new InvalidArgumentError(
        "instances",
        `${instances} is over the limit of ${LIMITS.instances.toLocaleString("en-US")}`,
      );
    }
    const was = app.instances;
    app.instances = instances;
    app.updatedAt = this.state.now();
    // The latest deployment's message is what `rollout status` shows as the app's state.
    // Once it has ended it said how many instances its revision runs ("revision 2 runs on
    // 3 instance(s)"), which a scale makes false: it now says what the scale did. An active
    // deployment's message speaks of its step, which a scale does not make false.
    const deps = this.state.book.deployments.get(name);
    const latest = deps?.[deps.length - 1];
    if (latest && !this.state.book.activeDeployment(name) && was !== instances) {
      latest.message = `revision ${app.revision} scaled from ${was} to ${instances} instance(s)`;
      this.state.book.put({ apps: [app], deployments: [latest] });
    } else this.state.book.put({ apps: [app] });
    this.state.log.info("app scaled", { app: name, instances });
    this.loop.kick();
  }

  pause(name: string): void {
    const dep = this.state.book.requireActive(name);
    dep.paused = true;
    // The state the controller gives it at its next tick (app-controller.ts, advance), set
    // now so that the answer to the operator is the new state. A deployment still staging
    // keeps STAGING and holds once its release is staged.
    if (dep.state !== "STAGING") dep.state = "PAUSED";
    // The message is what `rollout status` shows of the deployment now; the one before
    // (e.g. waiting for a promotion) no longer holds while it is paused.
    dep.message = `paused by the operator at step ${dep.step + 1} ("yardctl rollout resume ${name}" goes on)`;
    this.state.book.put({ deployments: [dep] });
    this.loop.kick();
  }

  resume(name: string): void {
    const dep = this.state.book.requireActive(name);
    dep.paused = false;
    // As the controller's next tick would (app-controller.ts, advance), so that the answer is current.
    if (dep.state === "PAUSED") dep.state = dep.rollingBack ? "ROLLING_BACK" : "RUNNING";
    dep.message = `resumed by the operator at step ${dep.step + 1}`;
    dep.lastProgressAt = this.state.now();
    this.state.book.put({ deployments: [dep] });
    this.loop.kick();
  }

  promote(name: string): void {
    const dep = this.state.book.requireActive(name);
    if (dep.state !== "WAITING_PROMOTION") {
      throw new FailedPreconditionError(
        `the deployment of ${name} is ${dep.state}, not waiting for promotion`,
      );
    }
    dep.state = dep.rollingBack ? "ROLLING_BACK" : "RUNNING";
    dep.step++;
    dep.lastProgressAt = this.state.now();
    this.state.book.put({ deployments: [dep] });
    this.loop.kick();
  }

  abort(name: string): void {
    const dep = this.state.book.requireActive(name);
    const app = this.state.book.requireApp(name);
    if (dep.rollingBack)
      throw new FailedPreconditionError(`the deployment of ${name} is already rolling back`);
    this.loop.fail(app, dep, "aborted by the operator", this.state.now(), true);
    this.loop.kick();
  }

  delete(name: string): void {
    const { book, now } = this.state;
    const app = book.requireApp(name);
    app.deleting = true;
    app.updatedAt = now();
    const dep = book.activeDeployment(name);
    if (dep) {
      dep.state = "ABORTED";
      dep.message = "the app was deleted";
      dep.endedAt = now();
      book.put({ deployments: [dep] });
    }
    book.put({ apps: [app] });
    this.state.log.info("app deleting", { app: name });
    this.loop.kick();
  }

  // ---- views ----

  names(): string[] {
    return this.state.book.names();
  }

  has(name: string): boolean {
    return this.state.book.apps.has(name);
  }

  view(name: string): AppView {
    const now = this.state.now();
    const crash = this.state.crashes.get(name);
    return {
      ...this.state.book.view(name, now),
      crashBackoffUntil: crash && crash.nextAt > now ? crash.nextAt : 0,
    };
  }

  history(name: string): { revisions: RevisionRecord[]; deployments: DeploymentRecord[] } {
    return this.state.book.history(name);
  }

  deployment(name: string, id: string): DeploymentRecord | undefined {
    return this.state.book.deployments.get(name)?.find((d) => d.id === id);
  }

  /** Calls `w` with each app's name after every tick; returns the unsubscribe. */
  watch(w: Watcher): () => void {
    this.state.watchers.add(w);
    return () => this.state.watchers.delete(w);
  }

  private newRevision(spec: AppSpec, specYaml: string, cause: string, now: number): DeploymentRecord {
    const dep = this.state.book.newRevision(spec, specYaml, cause, now);
    // A new revision starts with a clean slate: the old one's crashes and refusals are not its own.
    this.state.crashes.delete(spec.name);
    this.state.refusals.succeeded(spec.name);
    this.state.log.info("deployment started", {
      app: spec.name,
      revision: dep.toRevision,
      from: dep.fromRevision,
      deployment: dep.id,
    });
    this.loop.kick();
    return dep;
  }
}
