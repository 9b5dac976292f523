// Which master a client dials next, given how the last one answered. Pure: no timers, no
// I/O; the caller dials, sleeps and retries.
//
// Contract:
// - `address()` is where to dial. It starts at the first master of the list.
// - A not-the-leader answer that names the leader (common/leader-redirect.ts) moves to the
//   leader at once, adding it to the list when the operator did not name it (a master may
//   advertise a name the operator did not list).
// - Any other failure (a standby that knows no leader yet, a dead or unreachable master)
//   moves to the next master of the list.
// - A round is failed when every master of the list has failed since the last success; only
//   then does the caller back off, so that one dead master of three costs no delay.
// - A failure reported for a master the follower has already left (a call dialled there
//   before another call moved on) changes nothing: one client shares the follower between
//   its stream and its unary calls, and a late answer of the old leader must not move it
//   off the new one.
// - Within a round a master is not tried twice: a redirect to a master that already failed
//   in it (a standby naming a leader that died and has not lost its lease yet) is not
//   followed, so that two stale hints cannot make the caller loop without backing off.
import { leaderHint } from "./leader-redirect.js";

export interface FollowStep {
  /** Where to dial next. */
  address: string;
  /** The answer named the leader and the follower moved there: dial again at once. */
  redirected: boolean;
  /** Every master failed since the last success: back off before dialing `address`. */
  roundFailed: boolean;
  /**
   * With roundFailed: some master of the round answered as a standby, so the masters are up
   * and an election is under way (the leader died and its lease has yet to run out). The
   * caller polls at a short, steady interval (ELECTION_POLL_MS) instead of backing off
   * exponentially, so that it reaches the new leader within that interval of its election.
   */
  electionUnderWay: boolean;
}

/** How often a client looks for the new leader while standbys answer that none leads yet. */
export const ELECTION_POLL_MS = 500;

/**
 * How often an agent looks: a fleet of them polls the standbys thousands of times a second
 * while the election runs, and each refusal costs the masters CPU that the election and the
 * takeover need. Agents have 10 s to be back; frameworks, which must serve within 5, poll
 * at ELECTION_POLL_MS.
 */
export const AGENT_ELECTION_POLL_MS = 1_000;

/** A poll delay within [50 %, 100 %] of `pollMs`: a fleet does not come back in lockstep. */
export function electionPollDelay(random: () => number = Math.random, pollMs = ELECTION_POLL_MS): number {
  return Math.round(pollMs * (0.5 + 0.5 * random()));
}

export class LeaderFollower {
  private readonly list: string[];
  private index = 0;
  /** Masters that failed since the last success (or the last failed round). */
  private readonly failedInRound = new Set<string>();
  /** A master of the current round answered as a standby. */
  private standbyAnswered = false;

  constructor(masters: readonly string[]) {
    if (masters.length === 0) throw new Error("LeaderFollower needs at least one master");
    this.list = [...masters];
  }

  /** The master to dial now. */
  address(): string {
    return this.list[this.index]!;
  }

  /** Every master known: the operator's list, then the leaders that answers named. */
  masters(): readonly string[] {
    return this.list;
  }

  /** The master `master` (address() by default) answered as the leader: the next failure starts a new round. */
  succeeded(master: string = this.address()): void {
    if (master !== this.address()) return;
    this.failedInRound.clear();
    this.standbyAnswered = false;
  }

  /**
   * When `err` is a not-the-leader answer that names a leader not yet failed in this round:
   * moves there and returns its address (the current master counts as failed). Otherwise
   * nothing changes and it returns undefined: the caller decides (failed(), or give up).
   */
  redirected(err: unknown): string | undefined {
    const leader = leaderHint(err).leader;
    if (!leader || leader === this.address() || this.failedInRound.has(leader)) return undefined;
    this.failedInRound.add(this.address());
    let at = this.list.indexOf(leader);
    if (at < 0) at = this.list.push(leader) - 1;
    this.index = at;
    return leader;
  }

  /**
   * The master `master` (address() by default) failed with `err` (its answer, or why it could
   * not be reached): moves to the leader it named, else to the next master not yet failed in
   * this round; when none is left the round is failed and a new one starts. A failure of a
   * master other than address() is stale: the follower stays where it is.
   */
  failed(err: unknown, master: string = this.address()): FollowStep {
    if (master !== this.address()) {
      return { address: this.address(), redirected: false, roundFailed: false, electionUnderWay: false };
    }
    if (leaderHint(err).notLeader) this.standbyAnswered = true;
    const leader = this.redirected(err);
    if (leader) return { address: leader, redirected: true, roundFailed: false, electionUnderWay: false };
    this.failedInRound.add(this.address());
    for (let step = 1; step <= this.list.length; step++) {
      const at = (this.index + step) % this.list.length;
      if (!this.failedInRound.has(this.list[at]!)) {
        this.index = at;
        return { address: this.address(), redirected: false, roundFailed: false, electionUnderWay: false };
      }
    }
    // Every master failed: a new round, starting at the named leader when there is one.
    this.failedInRound.clear();
    const electionUnderWay = this.standbyAnswered;
    this.standbyAnswered = false;
    const hinted = leaderHint(err).leader;
    const at = hinted ? this.list.indexOf(hinted) : -1;
    if (hinted && at < 0) this.index = this.list.push(hinted) - 1;
    else this.index = at >= 0 ? at : (this.index + 1) % this.list.length;
    return { address: this.address(), redirected: false, roundFailed: true, electionUnderWay };
  }
}
