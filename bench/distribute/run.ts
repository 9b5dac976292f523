// Distribution benchmark: one server host and N agent hosts in network namespaces, every link
// capped with tc; a release of S MiB goes to every agent three times in the same run: by Yard's
// BitTorrent fetcher (tracker + seed on the server host, agents trading pieces), by every
// agent pulling it over HTTP from the server host, and by aria2 (a mature BitTorrent client,
// aria2-reference.ts) as a yardstick for Yard's engine. Prints the times, their ratios, Yard's
// time against the theoretical minimum max(S/u, N·S/((N+1)·u)), and the CPU seconds each phase
// cost (cpu.ts). Needs root (ip netns, tc); the aria2 phase needs aria2c and is skipped without
// it unless --only names it. The server host runs a real Yard master (bench-server.ts); the
// agents run Yard's fetcher.
// Usage: node dist/bench/distribute/run.js [--agents 16] [--size-mib 64] [--rate-mbit 100]
//        [--only bt|http|aria2[,…]] [--transport tls|insecure]
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Testbed } from "./testbed.js";
import { tlsMaterial } from "../../test/tls-fixture.js";
import { aria2Available, aria2Reference, type Aria2Result } from "./aria2-reference.js";
import { type NodeCpu, nodeCpuSeconds } from "./cpu.js";
import { type HostProcess, killAll, startProcess } from "./host-process.js";
import { benchMasterName } from "./ports.js";

const PHASES = ["bt", "http", "aria2"] as const;
type PhaseName = (typeof PHASES)[number];

interface Args {
  agents: number;
  sizeMiB: number;
  rateMbit: number;
  phases: Set<PhaseName>;
  /** --only was given: a phase it names is wanted, so a missing aria2c fails instead of skipping. */
  only: boolean;
  /** tls (the default: HTTPS tracker, mTLS gRPC) or insecure (plaintext), to record the TLS cost. */
  transport: "tls" | "insecure";
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    agents: 16,
    sizeMiB: 64,
    rateMbit: 100,
    phases: new Set(PHASES),
    only: false,
    transport: "tls",
  };
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
    else if (flag === "--only") {
      const names = value.split(",").map((v) => v.trim());
      for (const name of names) {
        if (!(PHASES as readonly string[]).includes(name))
          throw new Error(`--only: "${name}" is not one of ${PHASES.join(", ")}`);
      }
      a.phases = new Set(names as PhaseName[]);
      a.only = true;
    } else if (flag === "--transport") {
      if (value !== "tls" && value !== "insecure")
        throw new Error(`--transport: "${value}" is not tls or insecure`);
      a.transport = value;
    } else throw new Error(`unknown flag ${flag}`);
  }
  return a;
}

interface PhaseResult {
  seconds: number;
  perAgent: number[];
  uploaded: number[];
  ok: boolean;
  /** What the master's seeder had uploaded by the end of the phase. */
  seedUploaded: number;
  /** CPU seconds from "go" to the last agent done: the master's (a delta of its own counters,
   * since it lives across phases) and each agent's. */
  cpu: { master: number; agents: number[] };
}

async function phase(
  mode: "bt" | "http",
  bed: Testbed,
  server: HostProcess,
  dir: string,
  torrentPath: string,
  sha256: string,
  size: number,
): Promise<PhaseResult> {
  const serverHost = bed.hosts[0]!;
  const agents = bed.hosts
    .slice(1)
    .map((h) =>
      startProcess(h, "bench-agent.js", [
        mode,
        h.ip,
        serverHost.ip,
        torrentPath,
        sha256,
        String(size),
        path.join(dir, mode, h.name),
      ]),
    );
  await Promise.all(agents.map((a) => a.next()));
  const before = await server.ask("stats");
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
  const after = await server.ask("stats");
  for (const a of agents) a.send("exit");
  await Promise.all(agents.map((a) => a.exited));
  return {
    seconds,
    perAgent: done.map((d) => d.at / 1000),
    uploaded: stats.map((s) => Number(s.uploaded ?? 0)),
    ok: done.every((d) => d.ok),
    seedUploaded: Number(after.uploaded ?? 0),
    cpu: {
      master: nodeCpuSeconds(after.cpu as NodeCpu, before.cpu as NodeCpu),
      agents: stats.map((s) => nodeCpuSeconds(s.cpu as NodeCpu)),
    },
  };
}

function total(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** CPU seconds, to the hundredth: at small sizes a phase costs well under a second. */
function cpuText(seconds: number): string {
  return `${seconds.toFixed(2)} s`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Known before anything is built: asked for by name, a missing aria2c is an error; in the
  // default run (the smoke run among them) it only drops the reference.
  let aria2 = args.phases.has("aria2");
  const aria2Missing = aria2 && !aria2Available();
  if (aria2Missing && args.only)
    throw new Error("--only names aria2, but aria2c is not found (apt-get install -y aria2)");
  if (aria2Missing) aria2 = false;
  const size = Math.round(args.sizeMiB * 1024 * 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-bench-dist-"));
  const bed = new Testbed({ hosts: args.agents + 1, rate: `${args.rateMbit}mbit` });
  const cleanup = () => {
    killAll();
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
    // The master stores and seeds the release and writes its torrent to torrentPath. It runs
    // for --only aria2 too: the reference uses the piece length the master chose.
    const torrentPath = path.join(dir, "release.torrent");
    const server = startProcess(serverHost, "bench-server.js", [
      serverHost.ip,
      file,
      torrentPath,
      path.join(dir, "master"),
    ]);
    const ready = await server.next();
    if (ready.sha256 !== sha256)
      throw new Error(`the master stored sha256 ${ready.sha256}, expected ${sha256}`);
    const pieceLength = Number(ready.pieceLength);
    const pieceKiB = pieceLength / 1024;

    const u = (args.rateMbit * 1e6) / 8; // bytes per second of one link
    const minimum = Math.max(size / u, (args.agents * size) / ((args.agents + 1) * u));
    console.log(
      `distribute (${args.transport}): ${args.agents} agents, ${args.sizeMiB} MiB, ${args.rateMbit} Mbit/s links, ${pieceKiB} KiB pieces (the master's choice); theoretical minimum ${minimum.toFixed(1)} s`,
    );
    let bt: PhaseResult | undefined;
    let central: PhaseResult | undefined;
    let reference: Aria2Result | undefined;
    if (args.phases.has("bt")) {
      bt = await phase("bt", bed, server, dir, torrentPath, sha256, size);
      console.log(
        `yard bittorrent: ${bt.seconds.toFixed(1)} s (agents done between ${Math.min(...bt.perAgent).toFixed(1)} and ${bt.seconds.toFixed(1)} s; all verified: ${bt.ok}); seed uploaded ${(bt.seedUploaded / size).toFixed(2)}× the release, agents ${(total(bt.uploaded) / size).toFixed(2)}×`,
      );
      console.log(`yard vs minimum: ${(bt.seconds / minimum).toFixed(2)}× (target <= 1.5×)`);
      console.log(
        `yard cpu: ${cpuText(bt.cpu.master + total(bt.cpu.agents))} (master ${cpuText(bt.cpu.master)}, agents ${cpuText(total(bt.cpu.agents))})`,
      );
      // The distribution model's CPU cost (bench/distribute-sim, --cpu-ms-per-mib): every
      // process's CPU over the bytes the agents received.
      const cpuMsPerMiB = ((bt.cpu.master + total(bt.cpu.agents)) * 1000) / ((args.agents * size) / 1048576);
      console.log(`yard cpu per MiB delivered: ${cpuMsPerMiB.toFixed(1)} ms`);
    }
    if (args.phases.has("http")) {
      central = await phase("http", bed, server, dir, torrentPath, sha256, size);
      console.log(`central http: ${central.seconds.toFixed(1)} s (all verified: ${central.ok})`);
      console.log(
        `central http cpu: ${cpuText(central.cpu.master + total(central.cpu.agents))} (server ${cpuText(central.cpu.master)}, agents ${cpuText(total(central.cpu.agents))})`,
      );
    }
    if (bt && central) {
      const ratio = central.seconds / bt.seconds;
      console.log(
        `speed-up over the central server: ${ratio.toFixed(2)}× (target >= 0.6·N = ${(0.6 * args.agents).toFixed(1)}×)`,
      );
    }
    // The master is done with: stopped, it cannot weigh on the reference's figures.
    server.send("exit");
    await server.exited;

    if (aria2Missing) console.log("aria2 reference skipped: aria2c not found (apt-get install -y aria2)");
    if (aria2) {
      reference = await aria2Reference(bed, dir, file, sha256, pieceLength);
      const agentsCpu = total(reference.cpu.agents);
      console.log(
        `aria2 reference: ${reference.seconds.toFixed(1)} s (agents done between ${Math.min(...reference.perAgent).toFixed(1)} and ${reference.seconds.toFixed(1)} s; all verified: ${reference.ok})`,
      );
      console.log(`aria2 vs minimum: ${(reference.seconds / minimum).toFixed(2)}×`);
      console.log(
        `aria2 cpu: ${cpuText(reference.cpu.seeder + agentsCpu)} (seeder ${cpuText(reference.cpu.seeder)}, agents ${cpuText(agentsCpu)}); its tracker ${cpuText(reference.cpu.tracker)} apart`,
      );
    }
    if (bt && reference) {
      // Yard's master counts whole (its tracker included), aria2's tracker does not: it is
      // not aria2's, and a tracker's share is small either way.
      const yardCpu = bt.cpu.master + total(bt.cpu.agents);
      const aria2Cpu = reference.cpu.seeder + total(reference.cpu.agents);
      console.log(
        `yard vs aria2: ${(bt.seconds / reference.seconds).toFixed(2)}× (target: yard faster, < 1)`,
      );
      console.log(
        `cpu: yard ${cpuText(yardCpu)} (master ${cpuText(bt.cpu.master)}, agents ${cpuText(total(bt.cpu.agents))}), aria2 ${cpuText(aria2Cpu)}; ratio yard/aria2 ${(yardCpu / aria2Cpu).toFixed(2)} (target <= 2)`,
      );
    }
    if (central && reference) {
      console.log(
        `speed-up of aria2 over the central server: ${(central.seconds / reference.seconds).toFixed(2)}×`,
      );
    }
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  console.error(`bench distribute: ${(err as Error).message}`);
  process.exit(1);
});
