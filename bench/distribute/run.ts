// Distribution benchmark: one server host and N agent hosts in network namespaces, every link
// capped with tc; a release of S MiB goes to every agent twice in the same run: by Yard's
// BitTorrent fetcher (tracker + seed on the server host, agents trading pieces), and by every
// agent pulling it over HTTP from the server host. Prints both times, their ratio, and Yard's
// time against the theoretical minimum max(S/u, N·S/((N+1)·u)). Needs root (ip netns, tc).
// The server host runs a real Yard master (bench-server.ts); the agents run Yard's fetcher.
// Usage: node dist/bench/distribute/run.js [--agents 16] [--size-mib 64] [--rate-mbit 100]
//        [--only bt|http]
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type Host, Testbed } from "./testbed.js";
import { tlsMaterial } from "../../test/tls-fixture.js";
import { benchMasterName } from "./ports.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface Args {
  agents: number;
  sizeMiB: number;
  rateMbit: number;
  only?: string;
  /** tls (the default: HTTPS tracker, mTLS gRPC) or insecure (plaintext), to record the TLS cost. */
  transport: "tls" | "insecure";
}

function parseArgs(argv: string[]): Args {
  const a: Args = { agents: 16, sizeMiB: 64, rateMbit: 100, transport: "tls" };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1] ?? "";
    const n = Number(value);
    const positive = () => {
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: "${value}" is not a positive number`);
      return n;
    };
    if (flag === "--agents") a.agents = Math.floor(positive());
    else if (flag === "--size-mib") a.sizeMiB = positive();
    else if (flag === "--rate-mbit") a.rateMbit = positive();
    else if (flag === "--only") a.only = value;
    else if (flag === "--transport") {
      if (value !== "tls" && value !== "insecure")
        throw new Error(`--transport: "${value}" is not tls or insecure`);
      a.transport = value;
    } else throw new Error(`unknown flag ${flag}`);
  }
  return a;
}

/** A process in a host's namespace, spoken to by lines of JSON. */
class HostProcess {
  readonly child: ChildProcess;
  private readonly waiting: ((v: Record<string, unknown>) => void)[] = [];
  private readonly queued: Record<string, unknown>[] = [];
  exited: Promise<number | null>;

  constructor(host: Host, script: string, args: string[], extraNodeArgs: string[] = []) {
    this.child = spawn(
      "ip",
      ["netns", "exec", host.ns, process.execPath, ...extraNodeArgs, path.join(HERE, script), ...args],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    this.exited = new Promise((r) => this.child.on("exit", (code) => r(code)));
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const w = this.waiting.shift();
      if (w) w(msg);
      else this.queued.push(msg);
    });
  }

  next(): Promise<Record<string, unknown>> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      this.exited.then((code) => reject(new Error(`process exited (${code}) before answering`)));
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.pid) {
      try {
        process.kill(this.child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
}

const live = new Set<HostProcess>();
function startProcess(host: Host, script: string, args: string[]): HostProcess {
  const p = new HostProcess(
    host,
    script,
    args,
    process.env.YARD_BENCH_CPU_PROF
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.YARD_BENCH_CPU_PROF}`]
      : [],
  );
  live.add(p);
  p.exited.then(() => live.delete(p));
  return p;
}

async function phase(
  mode: "bt" | "http",
  bed: Testbed,
  dir: string,
  torrentPath: string,
  sha256: string,
  size: number,
): Promise<{ seconds: number; perAgent: number[]; uploaded: number[]; ok: boolean }> {
  const server = bed.hosts[0]!;
  const agents = bed.hosts
    .slice(1)
    .map((h) =>
      startProcess(h, "bench-agent.js", [
        mode,
        h.ip,
        server.ip,
        torrentPath,
        sha256,
        String(size),
        path.join(dir, mode, h.name),
      ]),
    );
  await Promise.all(agents.map((a) => a.next()));
  const t0 = Date.now();
  for (const a of agents) a.send("go");
  const done = await Promise.all(
    agents.map((a) =>
      a.next().then((m) => ({ ...m, at: Date.now() - t0 }) as { done: number; ok: boolean; at: number }),
    ),
  );
  const seconds = Math.max(...done.map((d) => d.at)) / 1000;
  for (const a of agents) a.send("stats");
  const stats = await Promise.all(agents.map((a) => a.next()));
  for (const a of agents) a.send("exit");
  await Promise.all(agents.map((a) => a.exited));
  return {
    seconds,
    perAgent: done.map((d) => d.at / 1000),
    uploaded: stats.map((s) => Number(s.uploaded ?? 0)),
    ok: done.every((d) => d.ok),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const size = Math.round(args.sizeMiB * 1024 * 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-bench-dist-"));
  const bed = new Testbed({ hosts: args.agents + 1, rate: `${args.rateMbit}mbit` });
  let server: HostProcess | undefined;
  const cleanup = () => {
    for (const p of live) p.kill();
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const file = path.join(dir, "seed", "release.bin");
    fs.mkdirSync(path.dirname(file));
    const data = randomBytes(size);
    fs.writeFileSync(file, data);
    const sha256 = createHash("sha256").update(data).digest("hex");
    bed.create();
    const serverHost = bed.hosts[0]!;
    // The processes in the hosts' namespaces inherit the environment: the transport, and with
    // TLS the directory of certificates issued here (the master's names its address).
    if (args.transport === "insecure") process.env.YARD_BENCH_INSECURE = "1";
    else for (const id of ["agent", "admin"]) tlsMaterial(id);
    if (args.transport === "tls") tlsMaterial(benchMasterName(serverHost.ip), "master", [], [serverHost.ip]);
    // The master stores and seeds the release and writes its torrent to torrentPath.
    const torrentPath = path.join(dir, "release.torrent");
    server = startProcess(serverHost, "bench-server.js", [
      serverHost.ip,
      file,
      torrentPath,
      path.join(dir, "master"),
    ]);
    const ready = await server.next();
    if (ready.sha256 !== sha256)
      throw new Error(`the master stored sha256 ${ready.sha256}, expected ${sha256}`);
    const pieceKiB = Number(ready.pieceLength) / 1024;

    const u = (args.rateMbit * 1e6) / 8; // bytes per second of one link
    const minimum = Math.max(size / u, (args.agents * size) / ((args.agents + 1) * u));
    console.log(
      `distribute (${args.transport}): ${args.agents} agents, ${args.sizeMiB} MiB, ${args.rateMbit} Mbit/s links, ${pieceKiB} KiB pieces (the master's choice); theoretical minimum ${minimum.toFixed(1)} s`,
    );
    let bt: Awaited<ReturnType<typeof phase>> | undefined;
    let central: Awaited<ReturnType<typeof phase>> | undefined;
    if (args.only !== "http") {
      bt = await phase("bt", bed, dir, torrentPath, sha256, size);
      server.send("stats");
      const seedUp = Number((await server.next()).uploaded ?? 0);
      console.log(
        `yard bittorrent: ${bt.seconds.toFixed(1)} s (agents done between ${Math.min(...bt.perAgent).toFixed(1)} and ${bt.seconds.toFixed(1)} s; all verified: ${bt.ok}); seed uploaded ${(seedUp / size).toFixed(2)}× the release, agents ${(bt.uploaded.reduce((x, y) => x + y, 0) / size).toFixed(2)}×`,
      );
      console.log(`yard vs minimum: ${(bt.seconds / minimum).toFixed(2)}× (target <= 1.5×)`);
    }
    if (args.only !== "bt") {
      central = await phase("http", bed, dir, torrentPath, sha256, size);
      console.log(`central http: ${central.seconds.toFixed(1)} s (all verified: ${central.ok})`);
    }
    if (bt && central) {
      const ratio = central.seconds / bt.seconds;
      console.log(
        `speed-up over the central server: ${ratio.toFixed(2)}× (target >= 0.6·N = ${(0.6 * args.agents).toFixed(1)}×)`,
      );
    }
    server.send("exit");
    await server.exited;
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  console.error(`bench distribute: ${(err as Error).message}`);
  process.exit(1);
});
