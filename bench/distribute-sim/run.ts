// Distribution model: runs the swarm engine's pure core (common/swarm/) in a discrete-event
// simulation (swarm-sim.ts) at sizes no testbed here reaches, and prints for each swarm size
// the time to the last host, p50 and p99, against the distribution benchmark's theoretical
// minimum max(S/u, N·S/((N+1)·u)) (bench/distribute/run.ts), and the CPU the model took.
// With --kraken it also runs Kraken's published case (3 GB to 2,600 hosts, 300 MB/s per
// host), to set beside Kraken's figures (p50 10 s, p99 18 s).
// Usage: node dist/bench/distribute-sim/run.js [--hosts 16,32,100,1000,10000] [--size-mib 64]
//        [--rate-mbit 100] [--latency-ms 0.25] [--seed 1] [--kraken] [--no-super-seed]
//        [--cpu-cores C --cpu-ms-per-mib M] [--smoke]
import { choosePieceLength } from "../../master/releases/release-torrent.js";
import { type SimConfig, type SimResult, simulate } from "./swarm-sim.js";

interface Args {
  hosts: number[];
  sizeBytes: number;
  rateMbit: number;
  latencyMs: number;
  seed: number;
  kraken: boolean;
  superSeed: boolean;
  /** Block size between Yard peers; default the whole piece. */
  blockKiB?: number;
  /** A CPU shared by all hosts (the 2-core testbed): cores and ms of CPU per MiB delivered. */
  cpuCores?: number;
  cpuMsPerMiB?: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    hosts: [16, 32, 100, 1000, 10000],
    sizeBytes: 64 * 1024 * 1024,
    rateMbit: 100,
    latencyMs: 0.25,
    seed: 1,
    kraken: false,
    superSeed: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--kraken") a.kraken = true;
    else if (flag === "--no-super-seed") a.superSeed = false;
    else if (flag === "--smoke") {
      a.hosts = [16, 100];
      a.sizeBytes = 4 * 1024 * 1024;
    } else {
      const value = argv[++i] ?? "";
      const n = Number(value);
      const positive = () => {
        if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: "${value}" is not a positive number`);
        return n;
      };
      if (flag === "--hosts") {
        a.hosts = value.split(",").map((v) => {
          const h = Number(v);
          if (!Number.isInteger(h) || h <= 0) throw new Error(`--hosts: "${v}" is not a positive integer`);
          return h;
        });
      } else if (flag === "--size-mib") a.sizeBytes = Math.round(positive() * 1024 * 1024);
      else if (flag === "--rate-mbit") a.rateMbit = positive();
      else if (flag === "--latency-ms") a.latencyMs = positive();
      else if (flag === "--block-kib") a.blockKiB = positive();
      else if (flag === "--seed") a.seed = Math.floor(positive());
      else if (flag === "--cpu-cores") a.cpuCores = Math.floor(positive());
      else if (flag === "--cpu-ms-per-mib") a.cpuMsPerMiB = positive();
      else throw new Error(`unknown flag ${flag}`);
    }
  }
  if ((a.cpuCores === undefined) !== (a.cpuMsPerMiB === undefined))
    throw new Error("--cpu-cores and --cpu-ms-per-mib go together: the shared CPU needs both");
  return a;
}

export interface Report {
  hosts: number;
  lastS: number;
  p50S: number;
  p99S: number;
  minimumS: number;
  seedCopies: number;
  hostCopies: number;
  cpuS: number;
  result: SimResult;
}

/**
 * The least time N hosts can all hold S bytes: the seed must send it once, every host must
 * receive it over its link, and the N·S bytes received come from the seed and the hosts'
 * uploads together. With the seed on a link like the hosts' it is the distribution
 * benchmark's max(S/u, N·S/((N+1)·u)) (bench/distribute/run.ts).
 */
export function theoreticalMinimumS(hosts: number, size: number, seedRate: number, linkRate: number): number {
  return Math.max(size / seedRate, size / linkRate, (hosts * size) / (seedRate + hosts * linkRate));
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export function runOne(cfg: SimConfig): Report {
  const cpu = process.cpuUsage();
  const result = simulate(cfg);
  const used = process.cpuUsage(cpu);
  const sorted = [...result.doneAt].sort((x, y) => x - y);
  return {
    hosts: cfg.hosts,
    lastS: sorted[sorted.length - 1]! / 1000,
    p50S: quantile(sorted, 0.5) / 1000,
    p99S: quantile(sorted, 0.99) / 1000,
    minimumS: theoreticalMinimumS(cfg.hosts, cfg.sizeBytes, cfg.seedBytesPerSecond, cfg.linkBytesPerSecond),
    seedCopies: result.seedUploaded / cfg.sizeBytes,
    hostCopies: result.hostsUploaded / cfg.sizeBytes,
    cpuS: (used.user + used.system) / 1e6,
    result,
  };
}

function line(r: Report): string {
  return [
    `${r.hosts} hosts:`,
    `last ${r.lastS.toFixed(2)} s,`,
    `p50 ${r.p50S.toFixed(2)} s, p99 ${r.p99S.toFixed(2)} s;`,
    `${(r.lastS / r.minimumS).toFixed(2)}× the minimum ${r.minimumS.toFixed(2)} s;`,
    `seed sent ${r.seedCopies.toFixed(2)}× the release, hosts ${r.hostCopies.toFixed(2)}×;`,
    `${r.result.meanPeers.toFixed(1)} peers each, ${r.result.wastedBlocks} duplicate blocks;`,
    `${r.result.events} events, ${r.cpuS.toFixed(1)} s CPU`,
  ].join(" ");
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const rate = (args.rateMbit * 1e6) / 8;
  const pieceLength = choosePieceLength(args.sizeBytes);
  console.log(
    `distribute model: ${(args.sizeBytes / 1048576).toFixed(0)} MiB, ${pieceLength / 1024} KiB pieces sent as whole blocks, ${args.rateMbit} Mbit/s links (seed too), ${args.latencyMs} ms to the switch, super-seeding ${args.superSeed ? "on" : "off"}, seed ${args.seed}${args.cpuCores ? `; one CPU of ${args.cpuCores} cores shared by all hosts, ${args.cpuMsPerMiB} ms per MiB delivered` : ""}`,
  );
  for (const hosts of args.hosts) {
    const r = runOne({
      hosts,
      sizeBytes: args.sizeBytes,
      pieceLength,
      linkBytesPerSecond: rate,
      seedBytesPerSecond: rate,
      latencyMs: args.latencyMs,
      blockBytes: args.blockKiB ? args.blockKiB * 1024 : pieceLength,
      seed: args.seed,
      superSeed: args.superSeed,
      sharedCpu:
        args.cpuCores && args.cpuMsPerMiB
          ? { cores: args.cpuCores, secondsPerByte: args.cpuMsPerMiB / 1000 / 1048576 }
          : undefined,
    });
    console.log(line(r));
  }
  if (args.kraken) {
    // Kraken's README: a 3G image (2 layers) to 2,600 hosts, 300 MB/s limit on every agent,
    // 5 origins: p50 10 s (the speed limit), p99 18 s. Here: one blob, one seed at the same
    // 300 MB/s, and again with the seed at 5 × 300 MB/s for Kraken's 5 origins.
    const size = 3e9;
    const rateK = 300e6;
    for (const origins of [1, 5]) {
      const r = runOne({
        hosts: 2600,
        sizeBytes: size,
        pieceLength: choosePieceLength(size),
        linkBytesPerSecond: rateK,
        seedBytesPerSecond: origins * rateK,
        latencyMs: args.latencyMs,
        blockBytes: choosePieceLength(size),
        seed: args.seed,
        superSeed: args.superSeed,
      });
      const minimum = size / rateK;
      console.log(
        `kraken case (3 GB, 300 MB/s, seed ${origins} × 300 MB/s, ${choosePieceLength(size) / 1048576} MiB pieces): ${line(r)}; vs the 10.0 s link minimum: p50 ${(r.p50S / minimum).toFixed(2)}×, p99 ${(r.p99S / minimum).toFixed(2)}× (Kraken: p50 1.0×, p99 1.8×)`,
      );
    }
  }
}

try {
  main();
} catch (err) {
  // A bad flag is the user's mistake: one line, not a stack.
  console.error(`distribute model: ${(err as Error).message}`);
  process.exitCode = 2;
}
