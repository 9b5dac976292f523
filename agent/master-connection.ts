// The agent's one bidirectional stream to the master (AgentService.Connect): register,
// heartbeat at the interval the master gives, hand every other message to the agent, and
// dial again whenever the stream ends or fails. With several masters it dials the leader:
// a standby's answer moves it to the leader at once, a dead master to the next of the list
// (common/leader-follower.ts); it backs off only after a round in which every master failed.
import { type ClientDuplexStream, status as GrpcStatus, Metadata, type StatusObject } from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { CHANNEL_OPTIONS } from "../common/grpc.js";
import { ClientPool } from "../common/leader-calls.js";
import { AGENT_ELECTION_POLL_MS, electionPollDelay, LeaderFollower } from "../common/leader-follower.js";
import { LEADER_METADATA_KEY, leaderHint, NOT_LEADER } from "../common/leader-redirect.js";
import type { Logger } from "../common/logger.js";
import { channelCredentials, type TlsMaterial } from "../common/tls.js";
import {
  type AgentMessage,
  AgentServiceClient,
  type MasterMessage,
  type Refused,
  type Register,
  type Registered,
  type StatusUpdate,
} from "../proto/gen/yard/v1/agent.js";
import type { AgentConditions } from "../proto/gen/yard/v1/common.js";
import { Backoff } from "./backoff.js";

/**
 * With TLS each agent's connection is its own (its own certificate); a local subchannel pool
 * spares the connect a scan of grpc-js's process-wide pool, which in a process that runs
 * thousands of agents (the benchmarks' fleet) compared each new agent with every other and
 * made registering 10,000 of them quadratic. Plaintext agents of one process still share the
 * process-wide pool (docs/benchmarks.md, "The cost of TLS").
 */
const TLS_AGENT_CHANNEL_OPTIONS = { ...CHANNEL_OPTIONS, "grpc.use_local_subchannel_pool": 1 };

export interface MasterConnectionInit {
  /** The masters to dial (host:port each, parsed already); the leader among them is found. */
  masters: readonly string[];
  token?: string;
  /** The agent's TLS material (the master must present a master certificate); null = plaintext. */
  tls: TlsMaterial | null;
  logger: Logger;
  /** Built afresh for every attempt: the agent's id and tasks change between attempts. */
  register: () => Register;
  onRegistered: (r: Registered) => void;
  /** What every heartbeat reports of the agent's health (disk pressure). */
  conditions?: () => AgentConditions;
  /** Awaited before the next attempt (STALE_AGENT makes the agent forget its tasks). */
  onRefused: (r: Refused) => Promise<void>;
  /** Every message after `registered`. May throw: the error is logged, the stream stays. */
  onMessage: (m: MasterMessage) => void;
  /** A registered stream ended: what was asked on it (log reads) is void. */
  onStreamEnded?: () => void;
  /** No answer to a register within this long: drop the stream and dial again. */
  registrationTimeoutMs?: number;
  backoff?: Backoff;
}

const DEFAULT_HEARTBEAT_S = 5;

/**
 * A Refused reason a master may give instead of ending the stream with the not-the-leader
 * status (common/leader-redirect.ts); its message ends with "the leader is HOST:PORT" when
 * the standby knows the leader. Both are followed the same way.
 */
export const NOT_LEADER_REFUSAL = "NOT_LEADER";

/** How one stream ended, for the follower: the status, or a refusal. */
interface AttemptEnd {
  refused?: Refused;
  registered: boolean;
  status?: StatusObject;
}

export class MasterConnection {
  private readonly clients: ClientPool<AgentServiceClient>;
  private readonly follower: LeaderFollower;
  private readonly backoff: Backoff;
  private call?: ClientDuplexStream<AgentMessage, MasterMessage>;
  private live = false;
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  /** Status updates sent in this turn of the event loop, written together at its end. */
  private statuses: StatusUpdate[] = [];

  constructor(private readonly init: MasterConnectionInit) {
    const creds = channelCredentials(init.tls, { serverKind: "master" });
    const options = init.tls ? TLS_AGENT_CHANNEL_OPTIONS : CHANNEL_OPTIONS;
    this.clients = new ClientPool((address) => new AgentServiceClient(address, creds, options));
    this.follower = new LeaderFollower(init.masters);
    this.backoff = init.backoff ?? new Backoff();
  }

  /** The master dialled now (the leader once registered). */
  get address(): string {
    return this.follower.address();
  }

  /** True while registered on a live stream. */
  get registered(): boolean {
    return this.live;
  }

  start(): void {
    this.loop = this.run().catch((err) => this.init.logger.error("master connection loop failed", { err }));
  }

  /** Writes on the stream when registered; false otherwise (callers keep what must not be lost). */
  send(msg: AgentMessage): boolean {
    if (!this.live || !this.call) return false;
    const update = msg.status;
    if (
      update &&
      Object.keys(msg).every((k) => k === "status" || msg[k as keyof AgentMessage] === undefined)
    ) {
      // Status updates of one turn of the event loop (a batch of launches, a resend) leave in
      // one message; anything else is written at once, after them, in order.
      this.statuses.push(update);
      if (this.statuses.length === 1) setImmediate(() => this.flushStatuses());
      return true;
    }
    this.flushStatuses();
    return this.write(msg);
  }

  private flushStatuses(): void {
    if (this.statuses.length === 0) return;
    const statuses = this.statuses;
    this.statuses = [];
    if (!this.live || !this.call) return; // checkpointed: sent again after the next registration
    this.write(statuses.length === 1 ? { status: statuses[0] } : { batch: { statuses } });
  }

  private write(msg: AgentMessage): boolean {
    if (!this.live || !this.call) return false;
    try {
      this.call.write(msg);
      return true;
    } catch (err) {
      this.init.logger.warn("write to master failed", { err });
      return false;
    }
  }

  /**
   * Resolves once the stream takes writes again without queueing (at once when it does, or
   * when there is no stream): a bulk sender (log reads) waits here so that it never queues
   * more than the stream's own buffer in this process.
   */
  whenWritable(): Promise<void> {
    const call = this.call;
    if (!call || !this.live || call.destroyed || !call.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        call.off("drain", done);
        call.off("close", done);
        call.off("error", done);
        resolve();
      };
      call.on("drain", done);
      call.on("close", done);
      call.on("error", done);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.live = false;
    this.call?.cancel();
    this.wake?.();
    await this.loop;
    this.clients.closeAll();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.attempt();
      if (this.stopped) break;
      const delay = await this.afterAttempt(outcome);
      this.init.logger.debug("reconnecting to master", { master: this.address, delayMs: delay });
      await this.sleep(delay);
    }
  }

  /** Moves to the next master when the last one did not lead; the delay before dialing it. */
  private async afterAttempt(outcome: AttemptEnd): Promise<number> {
    const refused = outcome.refused;
    if (refused?.reason === NOT_LEADER_REFUSAL) return this.moveOn(refusalAsStatus(refused));
    if (refused) {
      // WRONG_CLUSTER lasts until an operator acts; the agent logs it at its own pace.
      if (refused.reason !== "WRONG_CLUSTER") {
        this.init.logger.warn("master refused registration", {
          master: this.address,
          reason: refused.reason,
          message: refused.message,
        });
      }
      // A failure here (a checkpoint write on a full disk) must not end the loop: the agent
      // would never dial again.
      await this.init
        .onRefused(refused)
        .catch((err) => this.init.logger.error("handling the refusal failed", { err }));
      // A new identity is a fresh start, not a failure to back off from.
      if (refused.reason === "STALE_AGENT") {
        this.backoff.reset();
        return 0;
      }
      return this.backoff.next();
    }
    return this.moveOn(outcome.status);
  }

  /**
   * The stream to address() ended or failed: a standby's answer moves to the leader at once,
   * anything else to the next master; only a round in which every master failed backs off.
   */
  private moveOn(status: StatusObject | undefined): number {
    const from = this.address;
    const step = this.follower.failed(status);
    if (step.address !== from) {
      this.init.logger.info(step.redirected ? "following the leader" : "trying the next master", {
        from,
        to: step.address,
        ...(leaderHint(status).notLeader ? { standby: from } : {}),
      });
    }
    if (!step.roundFailed) return 0;
    // Standbys answered: the masters are up and electing; look again soon, without growing
    // the backoff, so the agent is back within a poll of the new leader's election.
    return step.electionUnderWay
      ? electionPollDelay(Math.random, AGENT_ELECTION_POLL_MS)
      : this.backoff.next();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /** One stream to address(), from dial to end. */
  private attempt(): Promise<AttemptEnd> {
    const log = this.init.logger;
    const master = this.address;
    return new Promise((resolve) => {
      let refused: Refused | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      let registered = false;
      const call = this.clients.get(master).connect(authMetadata(this.init.token));
      this.call = call;
      const regTimer = setTimeout(() => {
        log.warn("no answer to registration, dialing again", { master });
        call.cancel();
      }, this.init.registrationTimeoutMs ?? 10_000);

      call.on("data", (msg: MasterMessage) => {
        try {
          if (registered) {
            this.init.onMessage(msg);
          } else if (msg.registered) {
            registered = true;
            clearTimeout(regTimer);
            this.live = true;
            this.backoff.reset();
            this.follower.succeeded();
            const secs = msg.registered.heartbeatIntervalSeconds;
            const interval = (Number.isFinite(secs) && secs > 0 ? secs : DEFAULT_HEARTBEAT_S) * 1000;
            heartbeat = setInterval(
              () =>
                this.send({
                  heartbeat: { timestamp: Date.now() / 1000, conditions: this.init.conditions?.() },
                }),
              interval,
            );
            log.info("registered with master", { agent: msg.registered.agentId, master });
            this.init.onRegistered(msg.registered);
          } else if (msg.refused) {
            refused = msg.refused;
            clearTimeout(regTimer);
            call.cancel();
          } else {
            log.warn("message from master before registration, ignored");
          }
        } catch (err) {
          log.error("could not handle a message from the master", { err });
        }
      });
      call.on("error", (err) => {
        // A standby's answer is not a failure: the next attempt follows it.
        if (!this.stopped && !refused && !leaderHint(err).notLeader) {
          log.warn("stream to master failed", { master, err });
        }
      });
      call.on("status", (s: StatusObject) => {
        clearTimeout(regTimer);
        if (heartbeat) clearInterval(heartbeat);
        if (this.call === call) {
          this.live = false;
          this.call = undefined;
        }
        if (registered) this.init.onStreamEnded?.();
        if (registered && !this.stopped)
          log.warn("stream to master ended", { master, code: s.code, details: s.details });
        resolve({ refused, registered, status: s });
      });
      try {
        call.write({ register: this.init.register() });
      } catch (err) {
        log.error("could not send registration", { err });
        call.cancel();
      }
    });
  }
}

/** A NOT_LEADER refusal read as the not-the-leader status it stands for. */
function refusalAsStatus(r: Refused): StatusObject {
  const metadata = new Metadata();
  const leader = /the leader is (\S+)$/.exec(r.message)?.[1];
  if (leader) metadata.set(LEADER_METADATA_KEY, leader);
  const details = r.message.startsWith(NOT_LEADER) ? r.message : `${NOT_LEADER}: ${r.message}`;
  return { code: GrpcStatus.UNAVAILABLE, details, metadata };
}
