// The agent's one bidirectional stream to the master (AgentService.Connect): register,
// heartbeat at the interval the master gives, hand every other message to the agent, and
// dial again with backoff whenever the stream ends or fails.
import type { ClientDuplexStream, StatusObject } from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { errorMessage } from "../common/errors.js";
import { CHANNEL_OPTIONS } from "../common/grpc.js";
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

export interface MasterConnectionInit {
  address: string;
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

export class MasterConnection {
  private readonly client: AgentServiceClient;
  private readonly backoff: Backoff;
  private call?: ClientDuplexStream<AgentMessage, MasterMessage>;
  private live = false;
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  /** Status updates sent in this turn of the event loop, written together at its end. */
  private statuses: StatusUpdate[] = [];

  constructor(private readonly init: MasterConnectionInit) {
    this.client = new AgentServiceClient(
      init.address,
      channelCredentials(init.tls, { serverKind: "master" }),
      CHANNEL_OPTIONS,
    );
    this.backoff = init.backoff ?? new Backoff();
  }

  /** True while registered on a live stream. */
  get registered(): boolean {
    return this.live;
  }

  start(): void {
    this.loop = this.run().catch((err) =>
      this.init.logger.error("master connection loop failed", { error: errorMessage(err) }),
    );
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
      this.init.logger.warn("write to master failed", { error: errorMessage(err) });
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
    this.client.close();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.attempt();
      if (this.stopped) break;
      if (outcome.refused) {
        // WRONG_CLUSTER lasts until an operator acts; the agent logs it at its own pace.
        if (outcome.refused.reason !== "WRONG_CLUSTER") {
          this.init.logger.warn("master refused registration", {
            reason: outcome.refused.reason,
            message: outcome.refused.message,
          });
        }
        // A failure here (a checkpoint write on a full disk) must not end the loop: the agent
        // would never dial again.
        await this.init
          .onRefused(outcome.refused)
          .catch((err) =>
            this.init.logger.error("handling the refusal failed", { error: errorMessage(err) }),
          );
        // A new identity is a fresh start, not a failure to back off from.
        if (outcome.refused.reason === "STALE_AGENT") this.backoff.reset();
      }
      const delay = outcome.refused?.reason === "STALE_AGENT" ? 0 : this.backoff.next();
      this.init.logger.debug("reconnecting to master", { delayMs: delay });
      await this.sleep(delay);
    }
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

  /** One stream, from dial to end. */
  private attempt(): Promise<{ refused?: Refused }> {
    const log = this.init.logger;
    return new Promise((resolve) => {
      let refused: Refused | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      let registered = false;
      const call = this.client.connect(authMetadata(this.init.token));
      this.call = call;
      const regTimer = setTimeout(() => {
        log.warn("no answer to registration, dialing again", { master: this.init.address });
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
            const secs = msg.registered.heartbeatIntervalSeconds;
            const interval = (Number.isFinite(secs) && secs > 0 ? secs : DEFAULT_HEARTBEAT_S) * 1000;
            heartbeat = setInterval(
              () =>
                this.send({
                  heartbeat: { timestamp: Date.now() / 1000, conditions: this.init.conditions?.() },
                }),
              interval,
            );
            log.info("registered with master", { agent: msg.registered.agentId, master: this.init.address });
            this.init.onRegistered(msg.registered);
          } else if (msg.refused) {
            refused = msg.refused;
            clearTimeout(regTimer);
            call.cancel();
          } else {
            log.warn("message from master before registration, ignored");
          }
        } catch (err) {
          log.error("could not handle a message from the master", { error: errorMessage(err) });
        }
      });
      call.on("error", (err) => {
        if (!this.stopped && !refused) log.warn("stream to master failed", { error: errorMessage(err) });
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
          log.warn("stream to master ended", { code: s.code, details: s.details });
        resolve({ refused });
      });
      try {
        call.write({ register: this.init.register() });
      } catch (err) {
        log.error("could not send registration", { error: errorMessage(err) });
        call.cancel();
      }
    });
  }
}
