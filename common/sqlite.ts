// Opening a state database the one way Yard does it: WAL, a busy timeout, and the schema
// brought up to date by user_version migrations, each in its own transaction. A file written
// by a newer build is refused rather than misread.
import Database from "better-sqlite3";

export interface OpenDatabaseOptions {
  /** Entry i migrates the schema from user_version i to i+1; never edit a released entry. */
  migrations: readonly string[];
  /** Names the store in errors, e.g. "agent checkpoint". */
  name: string;
  /**
   * FULL: a commit survives a power loss (agents' checkpoints, frameworks' state).
   * NORMAL: a commit survives a crash of the process, the last ones may not survive an OS crash.
   */
  synchronous: "FULL" | "NORMAL";
  foreignKeys?: boolean;
}

export function openDatabase(file: string, opts: OpenDatabaseOptions): Database.Database {
  const db = new Database(file);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${opts.synchronous}`);
    db.pragma("busy_timeout = 5000");
    if (opts.foreignKeys) db.pragma("foreign_keys = ON");
    migrate(db, opts);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Database.Database, opts: OpenDatabaseOptions): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > opts.migrations.length) {
    throw new Error(
      `${opts.name} schema v${version} is newer than this build knows (v${opts.migrations.length}): ${db.name}`,
    );
  }
  for (let v = version; v < opts.migrations.length; v++) {
    db.transaction(() => {
      db.exec(opts.migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** A `meta (key TEXT PRIMARY KEY, value TEXT)` table as a small string map. */
export class MetaTable {
  private readonly getStmt;
  private readonly putStmt;
  private readonly deleteStmt;

  constructor(db: Database.Database) {
    this.getStmt = db.prepare("SELECT value FROM meta WHERE key = ?");
    this.putStmt = db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.deleteStmt = db.prepare("DELETE FROM meta WHERE key = ?");
  }

  get(key: string): string | undefined {
    return (this.getStmt.get(key) as { value: string } | undefined)?.value;
  }

  /** Sets `key`, or deletes it when `value` is undefined or empty. */
  set(key: string, value: string | undefined): void {
    if (value) this.putStmt.run(key, value);
    else this.deleteStmt.run(key);
  }
}
