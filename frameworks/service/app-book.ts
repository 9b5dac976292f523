// The service framework's book of records in memory: apps, revisions, deployments and live
// instances (with the health their task statuses carry), and the changes to them not yet written to the
// ServiceStore. Every change goes through put(); flush() writes what a tick changed in one
// transaction, the last write of each record winning.
import { randomUUID } from "node:crypto";
import { FailedPreconditionError, NotFoundError } from "../../common/errors.js";
import { type AppSpec, stageModeOf } from "./app-spec.js";
import type { InstanceHealth } from "./instance-health.js";
import { stepTargets } from "./rollout-plan.js";
import {
  type AppRecord,
  type DeploymentRecord,
  type InstanceRecord,
  isEnded,
  type RevisionRecord,
} from "./service-state.js";
import type { ServiceStore, StoreChanges } from "./service-store.js";

/**
 * An instance with what its task statuses say at run time (not persisted: a restarted
 * framework learns it again from the master's reconciliation answers).
 */
export interface Live {
  rec: InstanceRecord;
  health: InstanceHealth;
  /** Seconds; meaningful while healthy (instance-health.ts healthySince). */
  healthySince: number;
  killSentAt: number;
  /** When it was last reported UNREACHABLE (0: reachable); after a restart, the restart. */
  unreachableSince: number;
}

export interface InstanceView extends InstanceRecord {
  health: InstanceHealth;
  healthy: boolean;
  ready: boolean;
}

export interface AppView {
  app: AppRecord;
  spec: AppSpec;
  deployment?: DeploymentRecord;
  deploymentSteps: number[];
  /** The deployment's rollout.stage ("next" or "all"); "" without a deployment. */
  stageMode: string;
  instances: InstanceView[];
  /** Launches wait until then (crash-loop backoff); known to the scheduler, not the book. */
  crashBackoffUntil?: number;
}

export class AppBook {
  readonly apps = new Map<string, AppRecord>();
  readonly revisions = new Map<string, RevisionRecord[]>();
  readonly deployments = new Map<string, DeploymentRecord[]>();
  readonly live = new Map<string, Live>();
  private changes: StoreChanges = {};
  /** Told of every deployment the book is asked to store (rollout-metrics.ts). */
  onDeployment?: (d: DeploymentRecord) => void;

  constructor(private readonly store: ServiceStore) {
    const s = store.load();
    for (const a of s.apps) this.apps.set(a.name, a);
    for (const r of s.revisions) this.listOf(this.revisions, r.app).push(r);
    for (const d of s.deployments) this.listOf(this.deployments, d.app).push(d);
    for (const rec of s.instances) this.live.set(rec.taskId, this.fresh(rec));
  }

  names(): string[] {
    return [...this.apps.keys()].sort();
  }

  view(name: string, now: number): AppView {
    const app = this.requireApp(name);
    const spec = this.revision(name, app.revision).spec;
    const deps = this.deployments.get(name) ?? [];
    const deployment = deps[deps.length - 1];
    const instances: InstanceView[] = [];
    for (const l of this.live.values()) {
      if (l.rec.app !== name) continue;
      instances.push({
        ...l.rec,
        health: l.health,
        healthy: l.health === "healthy",
        ready: this.isReady(l, now),
      });
    }
    instances.sort((a, b) => a.launchedAt - b.launchedAt || a.taskId.localeCompare(b.taskId));
    let deploymentSteps: number[] = [];
    let stageMode = "";
    if (deployment) {
      const target = deployment.rollingBack ? deployment.fromRevision : deployment.toRevision;
      const rev = this.revisions.get(name)?.find((r) => r.number === target);
      if (rev) deploymentSteps = stepTargets(rev.spec.rollout.steps, app.instances);
      const to = this.revisions.get(name)?.find((r) => r.number === deployment.toRevision);
      if (to) stageMode = stageModeOf(to.spec.rollout);
    }
    return {
      app: { ...app },
      spec,
      deployment: deployment && { ...deployment, waves: deployment.waves?.map((w) => ({ ...w })) },
      deploymentSteps,
      stageMode,
      instances,
    };
  }

  history(name: string): { revisions: RevisionRecord[]; deployments: DeploymentRecord[] } {
    this.requireApp(name);
    return {
      revisions: [...(this.revisions.get(name) ?? [])],
      deployments: [...(this.deployments.get(name) ?? [])],
    };
  }

  fresh(rec: InstanceRecord): Live {
    return { rec, health: "unknown", healthySince: 0, killSentAt: 0, unreachableSince: 0 };
  }

  isReady(l: Live, now: number): boolean {
    if (l.health !== "healthy") return false;
    const rev = this.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision);
    return now - l.healthySince >= (rev?.spec.rollout.minHealthySeconds ?? 0);
  }

  instancesOf(app: string): Live[] {
    return [...this.live.values()].filter((l) => l.rec.app === app);
  }

  put(c: StoreChanges): void {
    if (this.onDeployment) for (const d of c.deployments ?? []) this.onDeployment(d);
    const m = this.changes;
    for (const k of Object.keys(c) as (keyof StoreChanges)[]) {
      (m[k] as unknown[]) = [...((m[k] as unknown[]) ?? []), ...((c[k] as unknown[]) ?? [])];
    }
  }

  /** Writes the pending changes in one transaction (last write of a record wins). */
  flush(): void {
    const c = this.changes;
    this.changes = {};
    if (Object.keys(c).length === 0) return;
    const dedup = <T>(list: T[] | undefined, key: (t: T) => string) =>
      list && [...new Map(list.map((x) => [key(x), x])).values()];
    this.store.write({
      apps: dedup(c.apps, (a) => a.name)?.filter((a) => this.apps.has(a.name)),
      deleteApps: c.deleteApps,
      revisions: dedup(c.revisions, (r) => `${r.app}/${r.number}`)?.filter((r) => this.apps.has(r.app)),
      instances: dedup(c.instances, (i) => i.taskId)?.filter((i) => this.live.has(i.taskId)),
      deleteInstances: c.deleteInstances?.filter((id) => !this.live.has(id)),
      deployments: dedup(c.deployments, (d) => d.id)?.filter((d) => this.apps.has(d.app)),
    });
  }

  /** Resolves once what flush() wrote is durable; rejects when it never will be (leadership lost). */
  durable(): Promise<void> {
    return this.store.durable();
  }

  listOf<T>(m: Map<string, T[]>, key: string): T[] {
    let list = m.get(key);
    if (!list) {
      list = [];
      m.set(key, list);
    }
    return list;
  }

  revision(app: string, number: number): RevisionRecord {
    const r = this.revisions.get(app)?.find((x) => x.number === number);
    if (!r) throw new Error(`app ${app} has no revision ${number}`);
    return r;
  }

  requireApp(name: string): AppRecord {
    const app = this.apps.get(name);
    if (!app) throw new NotFoundError(`app ${JSON.stringify(name)} not found`);
    return app;
  }

  activeDeployment(name: string): DeploymentRecord | undefined {
    const deps = this.deployments.get(name);
    const last = deps?.[deps.length - 1];
    return last && !isEnded(last) ? last : undefined;
  }

  requireActive(name: string): DeploymentRecord {
    this.requireApp(name);
    const dep = this.activeDeployment(name);
    if (!dep) throw new FailedPreconditionError(`app ${name} has no deployment in progress`);
    return dep;
  }

  /** Records a new revision of the app (creating the app) and the deployment to it; supersedes the active one. */
  newRevision(spec: AppSpec, specYaml: string, cause: string, now: number): DeploymentRecord {
    let app = this.apps.get(spec.name);
    const revs = this.listOf(this.revisions, spec.name);
    const number = (revs[revs.length - 1]?.number ?? 0) + 1;
    const rev: RevisionRecord = {
      app: spec.name,
      number,
      spec,
      specYaml,
      createdAt: now,
      changeCause: cause,
    };
    revs.push(rev);
    const active = this.activeDeployment(spec.name);
    if (active) {
      active.state = "SUPERSEDED";
      active.endedAt = now;
      active.message = `superseded by revision ${number}`;
    }
    const from = app?.revision ?? 0;
    if (!app) {
      app = { name: spec.name, revision: number, instances: spec.instances, deleting: false, updatedAt: now };
      this.apps.set(app.name, app);
    }
    app.revision = number;
    app.instances = spec.instances;
    app.updatedAt = now;
    const dep: DeploymentRecord = {
      id: `${spec.name}-${number}-${randomUUID().slice(0, 6)}`,
      app: spec.name,
      fromRevision: from,
      toRevision: number,
      state: "STAGING",
      paused: false,
      rollingBack: false,
      step: 0,
      stepDoneAt: 0,
      lastProgressAt: now,
      bestReady: 0,
      failures: 0,
      message: "",
      failure: "",
      startedAt: now,
      endedAt: 0,
      staging: [],
      stagingComplete: false,
    };
    this.listOf(this.deployments, spec.name).push(dep);
    this.put({ apps: [app], revisions: [rev], deployments: active ? [active, dep] : [dep] });
    return dep;
  }
}
