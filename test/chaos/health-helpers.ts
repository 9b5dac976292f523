import http from "node:http";
import { isTerminal } from "../../common/task-states.js";
import type { TestCluster } from "../cluster/harness.js";

/** GET / on 127.0.0.1:port: the body of a 200 answer, else undefined. */
export function answer(port: number, timeoutMs = 5_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve(res.statusCode === 200 ? body : undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/** The ports of the cluster's live tasks whose id starts with `prefix`, from the master. */
export async function livePorts(cluster: TestCluster, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const t of await cluster.getTasks(false)) {
    const id = t.info?.taskId ?? "";
    const port = t.info?.resources?.ports[0]?.begin;
    if (id.startsWith(prefix) && port && !isTerminal(t.status?.state ?? 0)) out.set(id, port);
  }
  return out;
}

/**
 * Polls every live task of an app on its port, back to back, until stopped: what answers is
 * what serves, whatever the framework believes. Keeps the lowest count seen.
 */
export class ServingPoller {
  min = Number.POSITIVE_INFINITY;
  samples = 0;
  /** The sample with the lowest count: task id -> what it answered. */
  worst: Record<string, string> = {};
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly cluster: TestCluster,
    private readonly prefix: string,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const ports = await livePorts(this.cluster, this.prefix).catch(() => undefined);
        if (!ports) {
          // The master is stalled (on purpose, in a test): the tasks are polled again after it.
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        const ids = [...ports.keys()];
        const bodies = await Promise.all(ids.map((id) => answer(ports.get(id)!)));
        const serving = bodies.filter((b) => b !== undefined).length;
        this.samples++;
        if (serving < this.min) {
          this.min = serving;
          this.worst = Object.fromEntries(ids.map((id, i) => [id, bodies[i] ?? "down"]));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
