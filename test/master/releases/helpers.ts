// Shared pieces of the release store tests: an in-process master on 127.0.0.1 with a temp
// data dir, a raw agent stream that speaks AgentService like an agent does, and a plain
// webtorrent client (the package as published, not Yard's code) for interop checks.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../../common/grpc.js";
import { silentLogger } from "../../../common/logger.js";
import type { ReleaseClient } from "../../../cli/commands/release.js";
import { startMaster, type MasterHandle } from "../../../master/master-daemon.js";
import {
  type AgentMessage,
  AgentServiceClient,
  type CachedArtifact,
  type MasterMessage,
} from "../../../proto/gen/yard/v1/agent.js";
import { clusterDispatcher } from "../../../common/cluster-fetch.js";
import { agentCredentials, tlsMaterial, tlsOf } from "../../tls-fixture.js";

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `yard-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function startTestMaster(dataDir: string): Promise<MasterHandle> {
  return startMaster({
    ...tlsOf("master"),
    dataDir,
    port: 0,
    httpPort: 0,
    logger: silentLogger,
    allocationIntervalMs: 50,
  });
}

/** Writes `size` random bytes to `dir/name`; returns the path and their sha256. */
export function randomFile(dir: string, name: string, size: number): { path: string; sha256: string } {
  const data = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, sha256: createHash("sha256").update(data).digest("hex") };
}

/** Pushes a file through the CLI's client. */
export function pushFile(
  client: ReleaseClient,
  release: string,
  path: string,
  size: number,
  fileName = "app.bin",
) {
  const [name, version] = release.split("@") as [string, string];
  return client.push({ name, version, kind: "file", fileName, size, image: "" }, path, () => {});
}

/** An agent's stream to the master, driven by the test. */
export class RawAgent {
  readonly received: MasterMessage[] = [];
  agentId = "";
  /** Issued at the first registration; a re-registration presents it. */
  agentSecret = "";
  /** The agent's passkey for the master's tracker (the private swarm), from its registration. */
  swarmPasskey = "";
  private readonly client: AgentServiceClient;
  private stream?: ClientDuplexStream<AgentMessage, MasterMessage>;

  constructor(address: string) {
    this.client = new AgentServiceClient(address, agentCredentials(), CHANNEL_OPTIONS);
  }

  async register(hostname: string, artifacts: CachedArtifact[] = []): Promise<string> {
    const stream = this.client.connect();
    this.stream = stream;
    stream.on("data", (m: MasterMessage) => this.received.push(m));
    stream.on("error", () => undefined);
    stream.write({
      register: {
        agentId: this.agentId,
        agentSecret: this.agentSecret,
        clusterId: "",
        info: {
          id: "",
          version: "test",
          hostname,
          resources: { cpus: 4, mem: 4096, disk: 10_000, ports: [{ begin: 31000, end: 31100 }] },
          attributes: [],
          executors: ["process"],
        },
        tasks: [],
        token: "",
        artifacts,
      },
    });
    const reg = await waitFor("registered", () => this.received.find((m) => m.registered || m.refused));
    if (reg.refused) throw new Error(`refused: ${reg.refused.message}`);
    this.agentId = reg.registered!.agentId;
    if (reg.registered!.agentSecret) this.agentSecret = reg.registered!.agentSecret;
    this.swarmPasskey = reg.registered!.swarmPasskey;
    return this.agentId;
  }

  send(msg: AgentMessage): void {
    this.stream!.write(msg);
  }

  disconnect(): void {
    this.stream?.cancel();
    this.stream = undefined;
    this.received.length = 0;
  }

  close(): void {
    this.disconnect();
    this.client.close();
  }
}

interface PlainTorrent {
  done: boolean;
  path: string;
  name: string;
  on(event: "done", cb: () => void): void;
  on(event: "error", cb: (err: Error | string) => void): void;
}
interface PlainClient {
  add(torrent: Uint8Array, opts: { path: string }, cb: (t: PlainTorrent) => void): PlainTorrent;
  on(event: "error", cb: (err: Error | string) => void): void;
  destroy(cb: () => void): void;
}

/**
 * Downloads `torrent` with a stock webtorrent client into `dir` (TCP only, no DHT or local
 * discovery, so that it finds peers through the torrent's tracker alone); its listener is
 * bound to 127.0.0.1. Resolves the path of the downloaded file.
 */
export async function downloadWithWebtorrent(
  torrent: Uint8Array,
  dir: string,
  timeoutMs = 30_000,
): Promise<string> {
  const name = "webtorrent";
  const WebTorrent = ((await import(name)) as { default: new (o: object) => PlainClient }).default;
  const httpsAgent = await clusterDispatcher({ ca: tlsMaterial("admin").ca });
  const original = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (typeof args[0] === "number" && typeof args[1] === "function") {
      return original.apply(this, [args[0], "127.0.0.1", args[1]] as unknown as Parameters<typeof original>);
    }
    return original.apply(this, args as Parameters<typeof original>);
  } as typeof original;
  let client: PlainClient;
  try {
    client = new WebTorrent({
      // An outside client that trusts the cluster CA (as an operator installs ca.crt) and
      // presents no certificate of its own.
      tracker: { proxyOpts: { httpsAgent } },
      dht: false,
      lsd: false,
      utp: false,
      natUpnp: false,
      natPmp: false,
      webSeeds: false,
    });
  } finally {
    net.Server.prototype.listen = original;
  }
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("download timed out")), timeoutMs);
      client.on("error", (err) => reject(typeof err === "string" ? new Error(err) : err));
      client.add(torrent, { path: dir }, (t) => {
        const finish = () => {
          clearTimeout(timer);
          resolve(join(dir, t.name));
        };
        if (t.done) finish();
        else t.on("done", finish);
        t.on("error", (err) => reject(typeof err === "string" ? new Error(err) : err));
      });
    });
  } finally {
    await new Promise<void>((resolve) => client.destroy(() => resolve()));
  }
}
