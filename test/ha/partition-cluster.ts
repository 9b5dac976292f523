// HA masters split over two hosts in network namespaces, for partition tests: etcd, masters
// m2 and m3, an agent and an SDK framework on one host ("side"); m1, meant to lead, on a host
// of its own whose link can be cut and healed. Everything runs as real processes in its host's
// namespace (`nsenter --net`, which keeps the mount namespace: the agent's cgroups stay
// visible). The namespaces are fresh, so the servers take fixed ports there.
//
// The test process lives in neither namespace: it reaches the servers through Unix sockets
// forwarded from inside (ns-forward.ts). m1 is reachable two ways: from its own host (its view
// of itself, which the cut does not touch) and from the side (what the others see of it).
// Cleans up what it made (processes by pid, the namespaces of its testbed), also on failure
// and on SIGTERM/SIGINT.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Etcd3 } from "etcd3";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { type GetMastersResponse, OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { type Host, Testbed } from "../../bench/distribute/testbed.js";
import { type DaemonProcess, killProcessesUnder, waitFor, YARDCTL } from "../cluster/harness.js";
import { operatorCredentials, tlsEnv, tlsMaterial } from "../tls-fixture.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ETCD_PORT = 2379;

export interface NsMaster extends DaemonProcess {
  id: string;
  host: Host;
  address: string;
  /** Calls from the master's own host. */
  own: OperatorServiceClient;
  /** Calls from the side host (the same as `own` for the masters there). */
  fromSide: OperatorServiceClient;
}

/** A JSON-lines event of sdk-framework-process.ts. */
export interface FrameworkEvent {
  event: "subscribed" | "update" | "disconnected";
  master?: string;
  frameworkId?: string;
  reconnected?: boolean;
  taskId?: string;
  state?: number;
  message?: string;
  reason?: string;
}

export class SdkFrameworkProcess {
  readonly events: FrameworkEvent[] = [];
  readonly stderr: string[] = [];
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as FrameworkEvent);
      } catch {
        this.stderr.push(line);
      }
    });
    child.stderr!.on("data", (b) => {
      this.stderr.push(String(b));
      if (this.stderr.length > 400) this.stderr.splice(0, 100);
    });
  }

  submit(taskId: string, command: string): void {
    this.child.stdin!.write(`${JSON.stringify({ submit: { taskId, command } })}\n`);
  }

  /** The states the framework was told of `taskId`, in order. */
  states(taskId: string): number[] {
    return this.events.filter((e) => e.event === "update" && e.taskId === taskId).map((e) => e.state!);
  }

  subscriptions(): FrameworkEvent[] {
    return this.events.filter((e) => e.event === "subscribed");
  }
}

export class PartitionCluster {
  readonly root: string;
  readonly token = `test-token-${Math.random().toString(36).slice(2)}`;
  readonly prefix = `/yard-test-${process.pid}`;
  readonly bed = new Testbed({ hosts: 2 });
  readonly masters: NsMaster[] = [];
  agent?: DaemonProcess;
  framework?: SdkFrameworkProcess;
  etcd!: Etcd3;
  private readonly children: ChildProcess[] = [];
  private readonly clients: OperatorServiceClient[] = [];
  private readonly onSignal = () => {
    this.cleanupSync();
    process.exit(130);
  };

  constructor(private readonly leaseTtl: number) {
    this.root = mkdtempSync(join(tmpdir(), "yard-ha-net-"));
    chmodSync(this.root, 0o711);
  }

  /** The side host: etcd, m2, m3, the agent and the framework. */
  get side(): Host {
    return this.bed.hosts[0]!;
  }

  /** The host of m1, alone. */
  get isolated(): Host {
    return this.bed.hosts[1]!;
  }

  get etcdUrl(): string {
    return `http://${this.side.ip}:${ETCD_PORT}`;
  }

  /** Every master, as the clients take them: m1 first. */
  get masterList(): string {
    return this.masters.map((m) => m.address).join(",");
  }

  private sock(name: string): string {
    return join(this.root, "s", `${name}.sock`);
  }

  /** Runs `cmd` in `host`'s network namespace. */
  private spawnIn(host: Host, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn("nsenter", [`--net=/run/netns/${host.ns}`, cmd, ...args], {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.children.push(child);
    return child;
  }

  private daemon(host: Host, args: string[], home: string): DaemonProcess {
    const child = this.spawnIn(host, process.execPath, [YARDCTL, ...args], {
      ...tlsEnv(),
      YARD_LOG_LEVEL: process.env.YARD_LOG_LEVEL ?? "info",
      YARD_HOME: home,
      YARD_TOKEN: this.token,
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

  private async forwarder(host: Host, routes: Record<string, string>): Promise<void> {
    const args = Object.entries(routes).map(([name, to]) => `${this.sock(name)}=${to}`);
    const child = this.spawnIn(host, process.execPath, [join(HERE, "ns-forward.js"), ...args]);
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`the forwarder in ${host.ns} exited (${code})`)));
      createInterface({ input: child.stdout! }).once("line", () => resolve());
    });
  }

  private client(sock: string): OperatorServiceClient {
    const c = new OperatorServiceClient(`unix:${sock}`, operatorCredentials(), CHANNEL_OPTIONS);
    this.clients.push(c);
    return c;
  }

  /** Builds the hosts, starts etcd, m1 (and waits until it leads), m2, m3, the agent. */
  async start(): Promise<void> {
    process.once("SIGTERM", this.onSignal);
    process.once("SIGINT", this.onSignal);
    this.bed.create();
    mkdirSync(join(this.root, "s"));
    const [side, isolated] = [this.side, this.isolated];
    // The masters' certificate names both hosts' addresses (before any daemon reads it).
    tlsMaterial("master", undefined, undefined, [side.ip, isolated.ip]);
    const ports = [7070, 7070, 7072]; // m1 alone on its host; m2 and m3 share the side
    const hostOf = (i: number) => (i === 0 ? isolated : side);
    await this.forwarder(side, {
      etcd: `${side.ip}:${ETCD_PORT}`,
      "m1-side": `${isolated.ip}:${ports[0]}`,
      m2: `${side.ip}:${ports[1]}`,
      m3: `${side.ip}:${ports[2]}`,
    });
    await this.forwarder(isolated, { m1: `${isolated.ip}:${ports[0]}` });

    const peer = `http://${side.ip}:${ETCD_PORT + 1}`;
    const etcdChild = this.spawnIn(side, "etcd", [
      "--name",
      "default",
      "--data-dir",
      join(this.root, "etcd"),
      "--listen-client-urls",
      this.etcdUrl,
      "--advertise-client-urls",
      this.etcdUrl,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `default=${peer}`,
    ]);
    const etcdOut: string[] = [];
    etcdChild.stderr!.on("data", (b) => etcdOut.push(String(b)));
    this.etcd = new Etcd3({ hosts: `unix:${this.sock("etcd")}` });
    await waitFor(
      "etcd to answer",
      async () => {
        if (etcdChild.exitCode !== null) throw new Error(`etcd exited: ${etcdOut.join("").slice(-2000)}`);
        await this.etcd.get("probe").string();
        return true;
      },
      30_000,
    );

    for (let i = 0; i < 3; i++) {
      const host = hostOf(i);
      const home = join(this.root, `master-${i}`);
      const d = this.daemon(
        host,
        [
          "master",
          "--host",
          host.ip,
          "--port",
          String(ports[i]),
          "--http-port",
          String(ports[i]! + 1),
          "--etcd",
          this.etcdUrl,
          "--etcd-prefix",
          this.prefix,
          "--etcd-lease-ttl",
          String(this.leaseTtl),
          "--master-id",
          `m${i + 1}`,
        ],
        home,
      );
      await waitFor(
        `master m${i + 1} to listen`,
        () => {
          if (d.child.exitCode !== null) throw new Error(`master exited: ${d.output.join("")}`);
          return existsSync(join(home, "master", "master.json"));
        },
        30_000,
      );
      const own = this.client(this.sock(i === 0 ? "m1" : `m${i + 1}`));
      this.masters.push({
        ...d,
        id: `m${i + 1}`,
        host,
        address: `${host.ip}:${ports[i]}`,
        own,
        fromSide: i === 0 ? this.client(this.sock("m1-side")) : own,
      });
      // m1 starts alone, so that it is the leader the test cuts off.
      if (i === 0) await this.leader([0]);
    }
    this.agent = this.daemon(
      side,
      [
        "agent",
        "--master",
        this.masterList,
        "--hostname",
        "host-0",
        "--cpus",
        "2",
        "--mem",
        "1024",
        "--ports",
        "30000-30099",
        "--executors",
        "process",
      ],
      join(this.root, "agent-0"),
    );
  }

  /** Starts the SDK framework on the side host, with every master in its list. */
  startFramework(name: string): SdkFrameworkProcess {
    const child = this.spawnIn(
      this.side,
      process.execPath,
      [join(HERE, "sdk-framework-process.js"), this.masterList, name],
      { ...tlsEnv(), YARD_TOKEN: this.token },
    );
    this.framework = new SdkFrameworkProcess(child);
    return this.framework;
  }

  getMasters(c: OperatorServiceClient, timeoutMs = 3_000): Promise<GetMastersResponse> {
    return unary(c.getMasters, c, {}, authMetadata(this.token), timeoutMs);
  }

  async getAgents(c: OperatorServiceClient, timeoutMs = 3_000) {
    return (await unary(c.getAgents, c, {}, authMetadata(this.token), timeoutMs)).agents;
  }

  async getTasks(c: OperatorServiceClient, includeTerminal = true) {
    const req = { frameworkId: "", agentId: "", includeTerminal };
    return (await unary(c.getTasks, c, req, authMetadata(this.token), 5_000)).tasks;
  }

  /** The index of the master that every one of `among` names as leader, once it serves. */
  async leader(among: number[], timeoutMs = 30_000): Promise<number> {
    return waitFor(
      "one leader that every master asked names, and that serves",
      async () => {
        const views = await Promise.all(among.map((i) => this.getMasters(this.masters[i]!.own)));
        const leaders = new Set(views.map((v) => v.leader));
        if (leaders.size !== 1 || views[0]!.leader === "") return false;
        const at = this.masters.findIndex((m) => m.address === views[0]!.leader);
        if (at < 0) return false;
        await this.getAgents(this.masters[at]!.own);
        return at + 1;
      },
      timeoutMs,
    ).then((i) => i - 1);
  }

  output(): string {
    const parts = this.masters.map((m) => `--- ${m.id}\n${m.output.join("").slice(-5000)}`);
    if (this.agent) parts.push(`--- agent\n${this.agent.output.join("").slice(-3000)}`);
    if (this.framework) parts.push(`--- framework\n${this.framework.stderr.join("").slice(-3000)}`);
    return parts.join("\n");
  }

  private cleanupSync(): void {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGCONT");
        c.kill("SIGKILL");
      }
    }
    killProcessesUnder(this.root);
    this.bed.destroy();
    rmSync(this.root, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    process.off("SIGTERM", this.onSignal);
    process.off("SIGINT", this.onSignal);
    for (const c of this.clients) c.close();
    this.etcd?.close();
    const exits = this.children
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map((c) => new Promise((r) => c.once("exit", r)));
    this.cleanupSync();
    await Promise.all(exits);
  }
}
