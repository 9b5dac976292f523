// One Docker events stream per agent, for the `die` of Yard's containers (label yard.task).
// When the stream breaks (engine restart, socket trouble) it reconnects with backoff and asks
// for the events since the last one seen, and tells the owner, which then re-inspects what it
// watches: a die missed while disconnected is still noticed.
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { Backoff } from "../backoff.js";
import { LABEL_TASK } from "./container-spec.js";

export interface ContainerEventsInit {
  docker: Docker;
  logger: Logger;
  onDie: (containerId: string) => void;
  /** After every (re)connection: events may have been missed before it. */
  onConnected: () => void;
}

export class ContainerEvents {
  private stream?: Readable;
  private stopped = false;
  private connecting?: Promise<void>;
  private lastSeen = Math.floor(Date.now() / 1000) - 1;
  private readonly backoff = new Backoff(200, 5000);
  private retryTimer?: NodeJS.Timeout;

  constructor(private readonly init: ContainerEventsInit) {}

  /** Resolves once the stream is open (or the first attempt failed: retries go on). */
  ensureStarted(): Promise<void> {
    if (this.stream || this.stopped) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stream?.destroy();
    this.stream = undefined;
  }

  private async connect(): Promise<void> {
    try {
      const stream = (await this.init.docker.getEvents({
        since: this.lastSeen,
        filters: { type: ["container"], event: ["die"], label: [LABEL_TASK] },
      })) as unknown as Readable;
      if (this.stopped) {
        stream.destroy();
        return;
      }
      this.stream = stream;
      this.backoff.reset();
      let buf = "";
      stream.on("data", (chunk: Buffer) => {
        buf += chunk.toString("utf8");
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          this.onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
        }
      });
      const broken = (why: string) => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        if (!this.stopped) {
          this.init.logger.warn("docker events stream ended, reconnecting", { why });
          this.scheduleRetry();
        }
      };
      stream.once("end", () => broken("end"));
      stream.once("close", () => broken("close"));
      stream.once("error", (e) => broken(errorMessage(e)));
      this.init.onConnected();
    } catch (err) {
      if (this.stopped) return;
      this.init.logger.warn("cannot open the docker events stream", { err });
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.ensureStarted().catch((err) => this.init.logger.error("docker events reconnect failed", { err }));
    }, this.backoff.next());
    this.retryTimer.unref();
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    try {
      const ev = JSON.parse(line) as { id?: string; Actor?: { ID?: string }; time?: number; status?: string };
      if (typeof ev.time === "number") this.lastSeen = Math.max(this.lastSeen, ev.time);
      const id = ev.Actor?.ID ?? ev.id;
      if (id) this.init.onDie(id);
    } catch (err) {
      this.init.logger.warn("unreadable docker event, ignored", { err });
    }
  }
}
