// Counts the instances that serve, as a client would see them: every poll reads the tasks the
// master knows, adds their first ports to the ports seen so far, and dials each seen port on
// 127.0.0.1; an instance serves if its port accepts. Dialling every port ever seen (not only
// those of tasks the master calls RUNNING) counts what answers, whatever any daemon believes.
import net from "node:net";
import type { Metadata } from "@grpc/grpc-js";
import { unary } from "../../common/grpc.js";
import type { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";

export interface ServingFigures {
  /** The fewest instances serving in one poll. */
  min: number;
  polls: number;
  /** Seconds (summed over polls) that fewer than `target` instances served. */
  secondsBelowTarget: number;
}

export class ServingPoller {
  private readonly ports = new Set<number>();
  private figures: ServingFigures = { min: Number.POSITIVE_INFINITY, polls: 0, secondsBelowTarget: 0 };
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly operator: OperatorServiceClient,
    private readonly md: Metadata,
    private readonly target: number,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    this.stopped = false;
    this.figures = { min: Number.POSITIVE_INFINITY, polls: 0, secondsBelowTarget: 0 };
    this.running = this.loop();
  }

  async stop(): Promise<ServingFigures> {
    this.stopped = true;
    await this.running;
    return this.figures;
  }

  private async loop(): Promise<void> {
    let last = performance.now();
    while (!this.stopped) {
      const serving = await this.poll();
      const now = performance.now();
      this.figures.polls++;
      this.figures.min = Math.min(this.figures.min, serving);
      if (serving < this.target) this.figures.secondsBelowTarget += (now - last) / 1000;
      last = now;
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }

  private async poll(): Promise<number> {
    try {
      const { tasks } = await unary(
        this.operator.getTasks,
        this.operator,
        { frameworkId: "", agentId: "", includeTerminal: false },
        this.md,
        5_000,
      );
      for (const t of tasks) {
        const port = t.info?.resources?.ports[0]?.begin;
        if (port) this.ports.add(port);
      }
    } catch {
      // The ports seen so far are dialled all the same.
    }
    const answers = await Promise.all([...this.ports].map(dial));
    return answers.filter(Boolean).length;
  }
}

function dial(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.setTimeout(1000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}
