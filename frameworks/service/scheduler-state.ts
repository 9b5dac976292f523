// What the parts of the service scheduler share: the app book, what is known of the agents,
// the backoffs, the launches the last tick asked for, and the driver once connected. One
// object, so a tick, an offer and an update see the same state; each part takes only the
// fields it uses (see the Pick<> types where they are built).
import type { Logger, PendingTally, RetryBackoff, SchedulerDriver } from "../../framework-sdk/index.js";
import type { AppBook } from "./app-book.js";
import type { AgentView } from "./constraints.js";
import type { Want } from "./offer-placement.js";

/** Crash-loop backoff of an app: how many instances failed in a row, and when to try again (s). */
export interface Crash {
  count: number;
  nextAt: number;
}

/** Told the name of every app after each tick (the watch streams). */
export type Watcher = (name: string) => void;

export interface SchedulerState {
  readonly book: AppBook;
  readonly log: Logger;
  /** Seconds; injectable for tests. */
  readonly now: () => number;
  /** Agents seen in offers, by id: for constraints and for where to stage. */
  readonly agents: Map<string, AgentView>;
  readonly crashes: Map<string, Crash>;
  /**
   * Apps whose last launch the master refused. A refusal is not a crash (nothing ran) but is
   * as likely to repeat: without a wait the next offer, a few ms later, is refused again.
   */
  readonly refusals: RetryBackoff<string>;
  /** Launches the last tick asked for, by app: revision and how many. Replaced every tick. */
  wants: Map<string, Want>;
  /**
   * Apps the last tick held back from launching (crash or refusal backoff): how many
   * instances, until when (s), and why. Replaced every tick, like `wants`.
   */
  heldBack: Map<string, { count: number; until: number; why: string }>;
  /** Why the last batch of offers did not fit each app ("why pending", pending-report.ts). */
  misfits: PendingTally;
  readonly watchers: Set<Watcher>;
  driver: SchedulerDriver | undefined;
  stopped: boolean;
  /**
   * Offers being turned into launches (their instances stored, the Accept not yet sent): a
   * suppress sent meanwhile would rescind those offers, so losing interest waits for them.
   */
  placing: number;
  /** Owns a background promise until it settles, so stop() can wait for it. */
  track(p: Promise<unknown>): void;
}

/** The loop's wake-ups, as the parts that react to events need them. */
export interface TickTrigger {
  /** Runs a tick soon (after the current event), coalescing bursts. */
  kick(): void;
  /** Runs a tick at `at` (seconds), unless one is already due earlier. */
  wakeAt(at: number): void;
}
