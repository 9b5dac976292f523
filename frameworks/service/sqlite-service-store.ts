// Durable state of the service framework in SQLite (the default, one instance): its framework
// id, apps, revisions, live instances and deployments with their progress (WAL; synchronous=FULL because an
// instance about to be launched must not be forgotten in a crash, else a restarted
// framework would launch a second one). Records are stored as JSON documents keyed by
// their ids; schema changes go through PRAGMA user_version migrations.
import type Database from "better-sqlite3";
import { FrameworkIdentity, MetaTable, openStateDatabase } from "../../framework-sdk/index.js";
import type { AppRecord, DeploymentRecord, InstanceRecord, RevisionRecord } from "./service-state.js";
import type { ServiceStore, StoreChanges, StoredState } from "./service-store.js";

const MIGRATIONS: string[] = [
  // v1
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE apps (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE TABLE revisions (app TEXT NOT NULL, number INTEGER NOT NULL, doc TEXT NOT NULL,
     PRIMARY KEY (app, number));
   CREATE TABLE instances (task_id TEXT PRIMARY KEY, app TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE TABLE deployments (id TEXT PRIMARY KEY, app TEXT NOT NULL, started_at REAL NOT NULL,
     doc TEXT NOT NULL);
   CREATE INDEX deployments_app ON deployments (app, started_at);`,
];

export class SqliteServiceStore implements ServiceStore {
  readonly backend = "sqlite";
  private readonly db: Database.Database;
  private readonly identity: FrameworkIdentity;

  constructor(file: string) {
    this.db = openStateDatabase(file, {
      migrations: MIGRATIONS,
      name: "service store",
      synchronous: "FULL",
    });
    const db = this.db;
    this.identity = new FrameworkIdentity(new MetaTable(db), (writes) => db.transaction(writes)());
  }

  frameworkId(): string | undefined {
    return this.identity.frameworkId();
  }

  /** The framework secret (failover proof) the master issued with the id; never logged. */
  frameworkSecret(): string | undefined {
    return this.identity.frameworkSecret();
  }

  /** Keeps the framework id with its secret, in one transaction (both undefined: forget them). */
  setFrameworkId(id: string | undefined, secret?: string): void {
    this.identity.setFrameworkId(id, secret);
  }

  load(): StoredState {
    const docs = <T>(sql: string) =>
      (this.db.prepare(sql).all() as { doc: string }[]).map((r) => JSON.parse(r.doc) as T);
    return {
      apps: docs<AppRecord>("SELECT doc FROM apps ORDER BY name"),
      revisions: docs<RevisionRecord>("SELECT doc FROM revisions ORDER BY app, number"),
      instances: docs<InstanceRecord>("SELECT doc FROM instances ORDER BY task_id"),
      deployments: docs<DeploymentRecord>("SELECT doc FROM deployments ORDER BY app, started_at"),
    };
  }

  write(c: StoreChanges): void {
    const putApp = this.db.prepare(
      "INSERT INTO apps (name, doc) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
    );
    const putRev = this.db.prepare(
      "INSERT INTO revisions (app, number, doc) VALUES (?, ?, ?) ON CONFLICT(app, number) DO UPDATE SET doc = excluded.doc",
    );
    const putInst = this.db.prepare(
      "INSERT INTO instances (task_id, app, doc) VALUES (?, ?, ?) ON CONFLICT(task_id) DO UPDATE SET doc = excluded.doc",
    );
    const putDep = this.db.prepare(
      "INSERT INTO deployments (id, app, started_at, doc) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
    );
    this.db.transaction(() => {
      for (const a of c.apps ?? []) putApp.run(a.name, JSON.stringify(a));
      for (const r of c.revisions ?? []) putRev.run(r.app, r.number, JSON.stringify(r));
      for (const i of c.instances ?? []) putInst.run(i.taskId, i.app, JSON.stringify(i));
      for (const d of c.deployments ?? []) putDep.run(d.id, d.app, d.startedAt, JSON.stringify(d));
      for (const id of c.deleteInstances ?? [])
        this.db.prepare("DELETE FROM instances WHERE task_id = ?").run(id);
      for (const name of c.deleteApps ?? []) {
        for (const t of [
          "apps WHERE name",
          "revisions WHERE app",
          "instances WHERE app",
          "deployments WHERE app",
        ]) {
          this.db.prepare(`DELETE FROM ${t} = ?`).run(name);
        }
      }
    })();
  }

  /** Every write is durable when write() returns. */
  durable(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.db.close();
  }
}
