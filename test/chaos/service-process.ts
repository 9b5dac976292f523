// The service framework (`yardctl service`) as a process of its own for the chaos tests:
// started, SIGKILLed and started again on the same data dir, with its DeployService.
import { logRecords } from "../log-records.js";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { type AppStatus, DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import { type TestCluster, waitFor, YARDCTL } from "../cluster/harness.js";
import { operatorCredentials, tlsEnv } from "../tls-fixture.js";

export class ServiceFrameworkProcess {
  private child?: ChildProcess;
  private client?: DeployServiceClient;
  readonly output: string[] = [];
  private readonly home: string;

  /** `token`: the framework's own credential, the cluster token by default. */
  constructor(
    private readonly cluster: TestCluster,
    private readonly token = cluster.token,
  ) {
    this.home = join(cluster.root, "service-home");
  }

  /**
   * Starts it and waits until its DeployService listens; with `subscribed` (the default) also
   * until it has subscribed to the master.
   */
  async start(opts: { subscribed?: boolean; args?: string[] } = {}): Promise<void> {
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
        this.token,
        ...(opts.args ?? []),
      ],
      { env: { ...process.env, ...tlsEnv(), YARD_HOME: this.home }, stdio: ["ignore", "pipe", "pipe"] },
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
      const listening = logRecords(this.output.join("")).find((r) => r.msg === "service framework listening");
      return typeof listening?.endpoint === "string" ? listening.endpoint : undefined;
    });
    this.client?.close();
    this.client = new DeployServiceClient(endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
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
