// The service framework's store on the SDK's state store seam (framework-sdk/state/): each
// record a JSON document under a key that sorts the way load() returns them. Used on etcd, where
// several instances of the framework share one state and one framework id.
//
//   meta/framework_id, meta/framework_secret
//   apps/<app>                       AppRecord
//   revisions/<app>/<number>         RevisionRecord
//   instances/<task id>              InstanceRecord
//   deployments/<app>/<id>           DeploymentRecord
import { FrameworkIdentity, keyPart, padKey, type StateKv } from "../../framework-sdk/index.js";
import type { AppRecord, DeploymentRecord, InstanceRecord, RevisionRecord } from "./service-state.js";
import type { ServiceStore, StoreChanges, StoredState } from "./service-store.js";

export class KvServiceStore implements ServiceStore {
  private readonly identity: FrameworkIdentity;

  constructor(private readonly kv: StateKv) {
    this.identity = FrameworkIdentity.onStateKv(kv);
  }

  get backend(): string {
    return this.kv.backend;
  }

  frameworkId(): string | undefined {
    return this.identity.frameworkId();
  }

  frameworkSecret(): string | undefined {
    return this.identity.frameworkSecret();
  }

  setFrameworkId(id: string | undefined, secret?: string): void {
    this.identity.setFrameworkId(id, secret);
  }

  /** In the order the SQLite store returns (keys sort differently: "web/" after "web-2/"). */
  load(): StoredState {
    const docs = <T>(prefix: string) => this.kv.range(prefix).map(([, v]) => JSON.parse(v) as T);
    return {
      apps: docs<AppRecord>("apps/").sort((a, b) => cmp(a.name, b.name)),
      revisions: docs<RevisionRecord>("revisions/").sort((a, b) => cmp(a.app, b.app) || a.number - b.number),
      instances: docs<InstanceRecord>("instances/").sort((a, b) => cmp(a.taskId, b.taskId)),
      deployments: docs<DeploymentRecord>("deployments/").sort(
        (a, b) => cmp(a.app, b.app) || a.startedAt - b.startedAt || cmp(a.id, b.id),
      ),
    };
  }

  write(c: StoreChanges): void {
    const kv = this.kv;
    kv.unit(() => {
      for (const a of c.apps ?? []) kv.put(`apps/${keyPart(a.name)}`, JSON.stringify(a));
      for (const r of c.revisions ?? [])
        kv.put(`revisions/${keyPart(r.app)}/${padKey(r.number)}`, JSON.stringify(r));
      for (const i of c.instances ?? []) kv.put(`instances/${keyPart(i.taskId)}`, JSON.stringify(i));
      for (const d of c.deployments ?? [])
        kv.put(`deployments/${keyPart(d.app)}/${keyPart(d.id)}`, JSON.stringify(d));
      for (const id of c.deleteInstances ?? []) kv.delete(`instances/${keyPart(id)}`);
      for (const name of c.deleteApps ?? []) {
        kv.delete(`apps/${keyPart(name)}`);
        kv.deletePrefix(`revisions/${keyPart(name)}/`);
        kv.deletePrefix(`deployments/${keyPart(name)}/`);
        for (const [key, value] of kv.range("instances/")) {
          if ((JSON.parse(value) as InstanceRecord).app === name) kv.delete(key);
        }
      }
    });
  }

  durable(): Promise<void> {
    return this.kv.durable();
  }

  /** The state store belongs to whoever opened it (the framework's leadership); nothing to do. */
  close(): void {}
}

/** Plain code-unit order, the order SQLite's BINARY collation gives the SQLite store. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
