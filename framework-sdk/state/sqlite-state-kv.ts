// The default state store backend: one SQLite file holding a `kv` table (WAL,
// synchronous=FULL: a write a framework acts on must survive a power loss). Every write is
// durable when put() returns; unit() is one transaction.
import type Database from "better-sqlite3";
import { openDatabase } from "../../common/sqlite.js";
import { type StateKv, StateLostError } from "./state-kv.js";

const MIGRATIONS: string[] = [
  // v1
  "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
];

/** Above every UTF-8 string that starts with the prefix (SQLite compares TEXT bytewise). */
const PREFIX_END = "\u{10FFFF}";

export class SqliteStateKv implements StateKv {
  readonly backend = "sqlite";
  private readonly db: Database.Database;
  private readonly getStmt;
  private readonly rangeStmt;
  private readonly putStmt;
  private readonly deleteStmt;
  private readonly deleteRangeStmt;
  private closed = false;

  /** Opens (creating) `file`; `name` names the store in errors, e.g. "my-framework state". */
  constructor(file: string, name = "framework state") {
    this.db = openDatabase(file, { migrations: MIGRATIONS, name, synchronous: "FULL" });
    this.getStmt = this.db.prepare("SELECT value FROM kv WHERE key = ?");
    this.rangeStmt = this.db.prepare("SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key");
    this.putStmt = this.db.prepare(
      "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.deleteStmt = this.db.prepare("DELETE FROM kv WHERE key = ?");
    this.deleteRangeStmt = this.db.prepare("DELETE FROM kv WHERE key >= ? AND key < ?");
  }

  get(key: string): string | undefined {
    return (this.getStmt.get(key) as { value: string } | undefined)?.value;
  }

  range(prefix: string): Array<[string, string]> {
    const rows = this.rangeStmt.all(prefix, prefix + PREFIX_END) as { key: string; value: string }[];
    return rows.map((r) => [r.key, r.value]);
  }

  put(key: string, value: string): void {
    this.putStmt.run(key, value);
  }

  delete(key: string): void {
    this.deleteStmt.run(key);
  }

  deletePrefix(prefix: string): void {
    this.deleteRangeStmt.run(prefix, prefix + PREFIX_END);
  }

  unit<T>(fn: () => T): T {
    // A nested unit joins the outer one (better-sqlite3 uses a savepoint).
    return this.db.transaction(fn)();
  }

  durable(): Promise<void> {
    return this.closed ? Promise.reject(new StateLostError("the state store is closed")) : Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
