// Many real agents in one process, for the benchmarks: each is a whole AgentDaemon (its own
// master stream, checkpoint, status updates, fetcher) with an injected executor that starts
// no process, so a benchmark measures Yard and cannot drift from the protocol. What keeps
// ten thousand of them affordable is only that their checkpoints live in memory (the same
// writes without fsyncs and files; see docs/benchmarks.md for the per-agent cost).
import { join } from "node:path";
import { type AgentHandle, startAgent } from "../../agent/agent-daemon.js";
import type { ExecutorFactory } from "../../agent/executor.js";
import { silentLogger } from "../../common/logger.js";
import { loadTlsMaterial, type TransportChoice } from "../../common/tls.js";
import { ListenerExecutor } from "../executors/listener-executor.js";
import { NullExecutor } from "../executors/null-executor.js";

export interface FleetSpec {
  master: string;
  token: string;
  /** TLS directory with ca.crt and agent.crt/.key, which every agent of the fleet presents; none = --insecure. */
  tlsDir?: string;
  /** Each agent's data dir is <dir>/agent-<index>. */
  dir: string;
  count: number;
  /** Index of the first agent: hostnames and port ranges follow it. */
  first?: number;
  /** "null": tasks are RUNNING at once; "listener": each task listens on its PORT0. */
  executor: "null" | "listener";
  cpus: number;
  mem: number;
  disk: number;
  /** Agent i offers ports [firstPort + i·portStride, … + portsPerAgent − 1]. */
  firstPort: number;
  portsPerAgent: number;
  /** 0: every agent offers the same range (fine while no task listens). */
  portStride: number;
  /** Agents are spread over this many `zone` attribute values. */
  zones: number;
  /**
   * BitTorrent caps of each agent, bytes/s (the agent's --download-rate/--upload-rate): the
   * fleet's agents share one host's loopback, so these stand in for the links a testbed's tc
   * would cap. Unset: uncapped.
   */
  downloadRate?: number;
  uploadRate?: number;
}

/** Agents started at once: enough to overlap their start-up, few enough not to flood the master. */
const START_BATCH = 100;

export class AgentFleet {
  readonly agents: AgentHandle[] = [];
  /** Tasks the fleet's executors were asked to launch (a failover must add none). */
  launches = 0;

  private readonly transport: TransportChoice;

  constructor(private readonly spec: FleetSpec) {
    this.transport = spec.tlsDir
      ? { tls: loadTlsMaterial({ dir: spec.tlsDir, name: "agent" }) }
      : { insecure: true };
  }

  /** Starts every agent and resolves once each has registered with the master. */
  async start(onProgress?: (registered: number) => void): Promise<void> {
    const s = this.spec;
    const first = s.first ?? 0;
    for (let i = 0; i < s.count; i += START_BATCH) {
      const batch = [];
      for (let k = i; k < Math.min(i + START_BATCH, s.count); k++) batch.push(this.startOne(first + k));
      this.agents.push(...(await Promise.all(batch)));
      onProgress?.(this.registered());
    }
    while (this.registered() < s.count) {
      await new Promise((r) => setTimeout(r, 20));
      onProgress?.(this.registered());
    }
  }

  registered(): number {
    return this.agents.filter((a) => a.agentId() !== undefined).length;
  }

  /** Agents registered on a live stream with the leading master right now. */
  connected(): number {
    return this.agents.filter((a) => a.connected()).length;
  }

  /** Stops every agent; their "tasks" end with them (nothing outlives the process). */
  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }

  private startOne(index: number): Promise<AgentHandle> {
    const s = this.spec;
    const begin = s.firstPort + index * s.portStride;
    const executor: ExecutorFactory = (c) => {
      const e = s.executor === "listener" ? new ListenerExecutor(c) : new NullExecutor(c);
      const launch = e.launch.bind(e);
      e.launch = (req) => {
        this.launches++;
        return launch(req);
      };
      return e;
    };
    return startAgent(
      {
        ...this.transport,
        master: s.master,
        token: s.token,
        dataDir: join(s.dir, `agent-${index}`),
        hostname: `bench-${index}`,
        cpus: s.cpus,
        mem: s.mem,
        disk: s.disk,
        ports: [{ begin, end: begin + s.portsPerAgent - 1 }],
        attributes: [{ name: "zone", value: `zone-${index % s.zones}` }],
        peerHost: "127.0.0.1",
        downloadRate: s.downloadRate,
        uploadRate: s.uploadRate,
        checkpointInMemory: true,
        logger: silentLogger,
      },
      { executors: { process: executor } },
    );
  }
}
