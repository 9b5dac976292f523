// What the service framework keeps durably: its framework id and secret, apps, revisions, live
// instances and deployments with their progress. Two implementations: SQLite (one instance,
// sqlite-service-store.ts) and the SDK's state store seam (kv-service-store.ts, on etcd when
// several instances share the work, one active). test/frameworks/service/service-store.test.ts
// runs one contract against both.
import type { AppRecord, DeploymentRecord, InstanceRecord, RevisionRecord } from "./service-state.js";

export interface StoredState {
  apps: AppRecord[];
  revisions: RevisionRecord[];
  instances: InstanceRecord[];
  deployments: DeploymentRecord[];
}

/** A batch of changes, written in one transaction. */
export interface StoreChanges {
  apps?: AppRecord[];
  deleteApps?: string[];
  revisions?: RevisionRecord[];
  instances?: InstanceRecord[];
  deleteInstances?: string[];
  deployments?: DeploymentRecord[];
}

export interface ServiceStore {
  /** "sqlite" or "etcd", for logs. */
  readonly backend: string;
  frameworkId(): string | undefined;
  /** The framework secret (failover proof) the master issued with the id; never logged. */
  frameworkSecret(): string | undefined;
  /** Keeps the framework id with its secret (both undefined: forget them). */
  setFrameworkId(id: string | undefined, secret?: string): void;
  /** Everything stored, apps by name, revisions by (app, number), instances by task id, deployments by (app, start). */
  load(): StoredState;
  /** Applies the changes atomically; deleting an app deletes its revisions, instances and deployments. */
  write(c: StoreChanges): void;
  /**
   * Resolves once every write so far is durable (at once in SQLite); rejects when it never will
   * be (this instance lost its leadership). Awaited before a recorded instance is launched.
   */
  durable(): Promise<void>;
  close(): void;
}
