// Helpers of the chaos tests on agent-run health: the service framework as a process of its
// own (started, SIGKILLed, started again on the same data dir), its DeployService, and a
// poller that hits every task of the cluster on its port, independently of the framework.
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { join } from "node:path";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, insecureChannel, unary } from "../../common/grpc.js";
import { isTerminal } from "../../common/task-states.js";
import { type AppStatus, DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import { type TestCluster, waitFor, YARDCTL } from "../cluster/harness.js";

export class ServiceFrameworkProcess {
  private child?: ChildProcess;
  private client?: DeployServiceClient;
  readonly output: string[] = [];
  private readonly home: string;

  constructor(private readonly cluster: TestCluster) {
    this.home = join(cluster.root, "service-home");
  }

  /**
   * Starts it and waits until its DeployService listens; with `subscribed` (the default) also
   * until it has subscribed to the master.
   */
  async start(opts: { subscribed?: boolean } = {}): Promise<void> {
    this.output.length = 0;
    const child = spawn(
      process.execPath,
      [
        YARDCTL,
        "service",
        "--master",
        this.cluster.masterAddress,
        "--data-dir",
        this.home,
        "--token",
        this.cluster.token,
      ],
      { env: { ...process.env, YARD_HOME: this.home }, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    const keep = (b: Buffer) => {
      this.output.push(String(b));
      if (this.output.length > 400) this.output.splice(0, 100);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const endpoint = await waitFor("the service framework to listen", () => {
      if (child.exitCode !== null) throw new Error(`the service framework exited: ${this.output.join("")}`);
      return /service framework listening.*endpoint=(\S+)/.exec(this.output.join(""))?.[1];
    });
    this.client?.close();
    this.client = new DeployServiceClient(endpoint, insecureChannel(), CHANNEL_OPTIONS);
    if (opts.subscribed !== false) await this.subscribed(endpoint);
  }

  /** Waits until the running framework is subscribed to the master. */
  async subscribed(endpoint?: string): Promise<void> {
    await waitFor(
      "the service framework to subscribe",
      async () =>
        (await this.cluster.getFrameworks()).find(
          (f) =>
            f.info?.name === "service" &&
            f.status === "CONNECTED" &&
            (endpoint === undefined || f.info.endpoint === endpoint),
        ),
      30_000,
    );
  }

  apply(yaml: string): Promise<unknown> {
    const c = this.client!;
    return unary(c.apply, c, { specYaml: yaml, fileName: "spec" }, authMetadata(this.cluster.token), 5_000);
  }

  /** kill -9, and waits for the exit. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  }

  app(name: string): Promise<AppStatus> {
    const c = this.client!;
    return unary(c.getApp, c, { app: name }, authMetadata(this.cluster.token), 5_000);
  }

  async stop(): Promise<void> {
    this.client?.close();
    await this.kill();
  }
}

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
