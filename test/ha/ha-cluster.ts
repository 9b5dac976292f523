// Masters in HA mode as real processes (`yardctl master --etcd ...`) over a throwaway etcd
// member, with agents, on 127.0.0.1 with temporary dirs and free ports. Cleans up what it
// started, by pid.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ServiceError, status as GrpcStatus } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { type GetMastersResponse, OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { type DaemonProcess, killProcessesUnder, runYardctl, waitFor, YARDCTL } from "../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../etcd-fixture.js";
import { operatorCredentials, tlsEnv, tlsMaterial } from "../tls-fixture.js";

export interface HaMaster extends DaemonProcess {
  id: string;
  grpcPort: number;
  httpPort: number;
  address: string;
  httpAddress: string;
  client: OperatorServiceClient;
}

export class HaCluster {
  readonly root: string;
  readonly token = `test-token-${Math.random().toString(36).slice(2)}`;
  readonly prefix = `/yard-test-${process.pid}`;
  etcd!: EtcdMember;
  readonly masters: HaMaster[] = [];
  readonly agents: DaemonProcess[] = [];

  constructor(
    private readonly leaseTtl = 2,
    private readonly extraMasterArgs: string[] = [],
  ) {
    this.root = mkdtempSync(join(tmpdir(), "yard-ha-"));
    chmodSync(this.root, 0o711);
  }

  async start(masters: number): Promise<void> {
    this.etcd = await startEtcd();
    for (let i = 0; i < masters; i++) await this.startMaster(i);
  }

  get addresses(): string[] {
    return this.masters.map((m) => m.address);
  }

  private spawn(args: string[], home: string): DaemonProcess {
    const child: ChildProcess = spawn(process.execPath, [YARDCTL, ...args], {
      env: {
        ...process.env,
        ...tlsEnv(),
        YARD_LOG_LEVEL: process.env.YARD_LOG_LEVEL ?? "info",
        YARD_HOME: home,
        YARD_TOKEN: this.token,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    const keep = (b: Buffer) => {
      output.push(b.toString());
      if (output.length > 1000) output.splice(0, 200);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return { child, dataDir: home, output };
  }

  /** Starts master `i` (m1, m2, ...), or starts it again on its ports and data dir. */
  async startMaster(i: number): Promise<HaMaster> {
    const home = join(this.root, `master-${i}`);
    const discovery = join(home, "master", "master.json");
    rmSync(discovery, { force: true });
    const old = this.masters[i];
    const d = this.spawn(
      [
        "master",
        "--port",
        String(old?.grpcPort ?? 0),
        "--http-port",
        String(old?.httpPort ?? 0),
        "--etcd",
        this.etcd.endpoint,
        "--etcd-prefix",
        this.prefix,
        "--etcd-lease-ttl",
        String(this.leaseTtl),
        "--master-id",
        `m${i + 1}`,
        ...this.extraMasterArgs,
      ],
      home,
    );
    const info = await waitFor(
      `master m${i + 1} to listen`,
      () => {
        if (d.child.exitCode !== null) throw new Error(`master exited: ${d.output.join("")}`);
        return existsSync(discovery) && JSON.parse(readFileSync(discovery, "utf8"));
      },
      30_000,
    );
    old?.client.close();
    const address = `127.0.0.1:${info.grpcPort}`;
    const m: HaMaster = {
      ...d,
      id: `m${i + 1}`,
      grpcPort: info.grpcPort,
      httpPort: info.httpPort,
      address,
      httpAddress: `127.0.0.1:${info.httpPort}`,
      client: new OperatorServiceClient(address, operatorCredentials(), CHANNEL_OPTIONS),
    };
    this.masters[i] = m;
    return m;
  }

  /** GetMasters from master `i` (every master answers it). */
  getMasters(i: number): Promise<GetMastersResponse> {
    const c = this.masters[i]!.client;
    return unary(c.getMasters, c, {}, authMetadata(this.token), 3_000);
  }

  /** The index of the master that leads, once all the running ones agree on one. */
  async leader(among = this.running(), timeoutMs = 30_000): Promise<number> {
    return waitFor(
      "one leader that every running master names, and that serves",
      async () => {
        const views = await Promise.all(among.map((i) => this.getMasters(i)));
        const leaders = new Set(views.map((v) => v.leader));
        if (leaders.size !== 1 || views[0]!.leader === "") return false;
        const at = this.masters.findIndex((m) => m.address === views[0]!.leader);
        if (at < 0 || !among.includes(at)) return false;
        // The views may agree on a leader that has just lost its lease: it must also serve.
        await this.getAgents(at);
        return at + 1;
      },
      timeoutMs,
    ).then((i) => i - 1);
  }

  running(): number[] {
    return this.masters
      .map((m, i) => (m.child.exitCode === null && m.child.signalCode === null ? i : -1))
      .filter((i) => i >= 0);
  }

  /** GetAgents at master `i`: the answer, or the error (a standby's refusal). */
  async getAgents(i: number) {
    const c = this.masters[i]!.client;
    return (await unary(c.getAgents, c, {}, authMetadata(this.token), 3_000)).agents;
  }

  async getFrameworks(i: number) {
    const c = this.masters[i]!.client;
    return (await unary(c.getFrameworks, c, {}, authMetadata(this.token), 3_000)).frameworks;
  }

  async getTasks(i: number) {
    const c = this.masters[i]!.client;
    const req = { frameworkId: "", agentId: "", includeTerminal: true };
    return (await unary(c.getTasks, c, req, authMetadata(this.token), 3_000)).tasks;
  }

  async getAgentsError(i: number): Promise<ServiceError> {
    try {
      await this.getAgents(i);
    } catch (err) {
      return err as ServiceError;
    }
    throw new Error(`master m${i + 1} answered GetAgents`);
  }

  /** An agent registered with `masters` (host:port, comma-separated). */
  startAgent(masters: string, index = this.agents.length): DaemonProcess {
    const home = join(this.root, `agent-${index}`);
    const a = this.spawn(
      [
        "agent",
        "--master",
        masters,
        "--hostname",
        `host-${index}`,
        "--cpus",
        "2",
        "--mem",
        "1024",
        "--ports",
        // Below Linux's ephemeral range (32768-60999): a client socket's local port there
        // made a task's listen fail with EADDRINUSE (a rollout in CI rolled back on it).
        `${30000 + index * 100}-${30000 + index * 100 + 99}`,
        "--executors",
        "process",
      ],
      home,
    );
    this.agents[index] = a;
    return a;
  }

  yardctl(args: string[], master: string) {
    return runYardctl(args, 30_000, { YARD_MASTER: master, YARD_TOKEN: this.token });
  }

  /** An HTTPS GET of `path` at master `i`'s HTTP port, not following redirects. */
  httpGet(
    i: number,
    path: string,
  ): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
    const admin = tlsMaterial("admin");
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: this.masters[i]!.httpPort,
          path,
          ca: admin.ca,
          cert: admin.cert,
          key: admin.key,
          timeout: 3_000,
        },
        (res) => {
          let body = "";
          res.on("data", (b) => (body += b));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  async kill(d: DaemonProcess | undefined, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
    const exited = new Promise((r) => d.child.once("exit", r));
    d.child.kill("SIGCONT");
    d.child.kill(signal);
    await exited;
  }

  output(): string {
    return this.masters.map((m) => `--- ${m.id}\n${m.output.join("").slice(-6000)}`).join("\n");
  }

  async stop(): Promise<void> {
    for (const m of this.masters) m.client.close();
    await Promise.all([...this.agents, ...this.masters].map((d) => this.kill(d)));
    killProcessesUnder(this.root);
    await this.etcd?.destroy();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A standby's refusal: UNAVAILABLE, "not the leader", naming `leader`. */
export function isNotLeader(err: ServiceError, leader: string): boolean {
  return (
    err.code === GrpcStatus.UNAVAILABLE &&
    (err.details ?? "").startsWith("not the leader") &&
    err.metadata?.get("yard-leader")[0] === leader
  );
}
