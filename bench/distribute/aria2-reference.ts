// The aria2 reference phase of the distribution benchmark: the same release over the same
// testbed, moved by Debian's aria2 (a mature C++ BitTorrent client) instead of Yard, so that
// Yard's time and CPU have a yardstick that is not Yard's own. Nothing of Yard takes part: a
// plain public tracker (aria2-tracker.ts) and an aria2c seeder on the server host, a public
// torrent made here with the piece length the master chose, and one aria2c per agent host,
// all started at the same "go", each seeding on after its download until the last is done.
import { type ChildProcess, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { type NodeCpu, nodeCpuSeconds, procCpuSeconds } from "./cpu.js";
import { exitOf, spawnInHost, startProcess } from "./host-process.js";
import { ARIA2_PEER_PORT, ARIA2_TRACKER_PORT } from "./ports.js";
import type { Host, Testbed } from "./testbed.js";

export interface Aria2Result {
  /** Seconds from "go" to the last agent done. */
  seconds: number;
  perAgent: number[];
  /** Every agent's file has the release's sha256. */
  ok: boolean;
  /** CPU seconds over the phase (see cpu.ts); the tracker's is not aria2's and is kept apart. */
  cpu: { seeder: number; agents: number[]; tracker: number };
}

/** How long the seeder may take to check the release and announce it. */
const SEEDER_READY_MS = 120_000;
/** How long an aria2c may take to exit on SIGTERM (it announces "stopped" first). */
const STOP_GRACE_MS = 15_000;

export function aria2Available(): boolean {
  const r = spawnSync("aria2c", ["--version"], { stdio: "ignore" });
  return !r.error && r.status === 0;
}

type CreateTorrent = (
  input: string,
  opts: Record<string, unknown>,
  cb: (err: Error | null, torrent: Uint8Array) => void,
) => void;

// create-torrent ships no types: loaded through a computed specifier, typed above.
const load = (name: string): Promise<any> => import(name);

/** A public single-file torrent of `file`, announcing only to `announce`, with no web seeds. */
async function makeTorrent(file: string, announce: string, pieceLength: number): Promise<Uint8Array> {
  const createTorrent = (await load("create-torrent")).default as CreateTorrent;
  return new Promise((resolve, reject) =>
    createTorrent(
      file,
      {
        name: path.basename(file),
        pieceLength,
        private: false,
        announceList: [[announce]],
        urlList: [],
        createdBy: "yard-bench",
      },
      (err, torrent) => (err ? reject(err) : resolve(torrent)),
    ),
  );
}

/**
 * The hook each agent's aria2c runs through --on-bt-download-complete, with the GID, the number
 * of files and the first file's path, once every piece is in and hash-checked and before it
 * turns to seeding: it leaves RELEASE.done next to the file, and the file's mtime is the moment
 * the agent was done. This is aria2's own completion event, so it neither races a poll of the
 * RPC nor guesses from its control file; and since the stamp carries the time, how often the
 * benchmark looks for it does not change the figure. (Yard's agents are done a little later in
 * their work: after a sha256 of the whole file as well; this one is checked after the phase.)
 */
function writeDoneHook(dir: string): string {
  const hook = path.join(dir, "done-hook.sh");
  fs.writeFileSync(hook, '#!/bin/sh\n: > "$3.done"\n', { mode: 0o755 });
  return hook;
}

/** One aria2c in a host's namespace, its output in its own log. */
class Aria2 {
  readonly child: ChildProcess;
  readonly log: string;

  constructor(
    host: Host,
    readonly name: string,
    work: string,
    args: string[],
  ) {
    this.log = path.join(work, `${name}.log`);
    const fd = fs.openSync(this.log, "w");
    this.child = spawnInHost(
      host,
      "aria2c",
      [
        // Only the tracker finds peers: no DHT, local discovery or peer exchange.
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        `--listen-port=${ARIA2_PEER_PORT}`,
        "--bt-tracker-connect-timeout=5",
        "--bt-tracker-timeout=10",
        // Seed until told to stop: the others still need this host's pieces.
        "--seed-ratio=0.0",
        // Nothing to write up front: pieces land where they belong, as they come.
        "--file-allocation=none",
        // If the benchmark dies without its cleanup, aria2c stops on its own.
        `--stop-with-process=${process.pid}`,
        "--summary-interval=0",
        "--show-console-readout=false",
        "--console-log-level=warn",
        "--enable-color=false",
        ...args,
      ],
      ["ignore", fd, fd],
    );
    fs.closeSync(fd);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** CPU seconds so far (NaN once it has exited). */
  cpu(): number {
    return this.child.pid ? procCpuSeconds(this.child.pid) : Number.NaN;
  }

  /** Why it stopped, with the end of its log. */
  failure(): Error {
    const tail = fs.readFileSync(this.log, "utf8").trim().split("\n").slice(-8).join("\n");
    return new Error(
      `aria2c ${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) too early:\n${tail}`,
    );
  }

  /** SIGTERM (aria2c then announces "stopped" and exits cleanly), SIGKILL after the grace. */
  async stop(): Promise<void> {
    if (!this.running || !this.child.pid) return;
    const pid = this.child.pid;
    const signal = (sig: NodeJS.Signals) => {
      try {
        if (this.running) process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), STOP_GRACE_MS);
    await exitOf(this.child);
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk);
  return hash.digest("hex");
}

/** Runs the phase: `file` is the release on the server host's side, in a dir of its own. */
export async function aria2Reference(
  bed: Testbed,
  dir: string,
  file: string,
  sha256: string,
  pieceLength: number,
): Promise<Aria2Result> {
  const work = path.join(dir, "aria2");
  fs.mkdirSync(work, { recursive: true });
  const server = bed.hosts[0]!;
  const tracker = startProcess(server, "aria2-tracker.js", [server.ip, String(ARIA2_TRACKER_PORT)]);
  const aria2s: Aria2[] = [];
  try {
    await tracker.next();
    const torrentPath = path.join(work, "release.torrent");
    const announce = `http://${server.ip}:${ARIA2_TRACKER_PORT}/announce`;
    fs.writeFileSync(torrentPath, await makeTorrent(file, announce, pieceLength));
    const hook = writeDoneHook(work);

    // The seeder checks the release against the torrent (-V), then seeds it; the agents start
    // once the tracker has its announce, so that the first of them already finds it.
    const seeder = new Aria2(server, "seeder", work, [
      "--check-integrity=true",
      `--dir=${path.dirname(file)}`,
      torrentPath,
    ]);
    aria2s.push(seeder);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      tracker.ask("seeded").then(
        () => "seeded",
        () => "tracker gone",
      ),
      exitOf(seeder.child).then(() => "seeder gone"),
      new Promise<string>((r) => {
        timer = setTimeout(() => r("timeout"), SEEDER_READY_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === "seeder gone") throw seeder.failure();
    if (outcome === "tracker gone") throw new Error("the aria2 tracker exited");
    if (outcome === "timeout")
      throw new Error(`the aria2 seeder did not announce within ${SEEDER_READY_MS / 1000} s (${seeder.log})`);

    const trackerBefore = (await tracker.ask("cpu")).cpu as NodeCpu;
    const seederBefore = seeder.cpu();
    const t0 = Date.now();
    const agentHosts = bed.hosts.slice(1);
    const agents = agentHosts.map(
      (h) =>
        new Aria2(h, h.name, work, [
          `--dir=${path.join(work, h.name)}`,
          `--on-bt-download-complete=${hook}`,
          torrentPath,
        ]),
    );
    aria2s.push(...agents);
    const fileIn = (h: Host) => path.join(work, h.name, path.basename(file));
    const doneAt: (number | undefined)[] = agents.map(() => undefined);
    while (doneAt.some((d) => d === undefined)) {
      for (const [i, h] of agentHosts.entries()) {
        const stamp = `${fileIn(h)}.done`;
        if (doneAt[i] === undefined && fs.existsSync(stamp)) doneAt[i] = fs.statSync(stamp).mtimeMs - t0;
      }
      const dead = aria2s.find((a) => !a.running);
      if (dead) throw dead.failure();
      await sleep(50);
    }
    // The agents started at "go", so their whole life counts: a few milliseconds of start-up
    // that Yard's agents, started before "go", do not pay.
    const cpuAgents = agents.map((a) => a.cpu());
    const cpuSeeder = seeder.cpu() - seederBefore;
    const trackerAfter = (await tracker.ask("cpu")).cpu as NodeCpu;

    await Promise.all(aria2s.map((a) => a.stop()));
    let ok = true;
    for (const h of agentHosts) {
      if ((await sha256Of(fileIn(h))) !== sha256) ok = false;
    }
    const perAgent = doneAt.map((d) => Math.max(0, d!) / 1000);
    return {
      seconds: Math.max(...perAgent),
      perAgent,
      ok,
      cpu: {
        seeder: cpuSeeder,
        agents: cpuAgents,
        tracker: nodeCpuSeconds(trackerAfter, trackerBefore),
      },
    };
  } finally {
    await Promise.all(aria2s.map((a) => a.stop()));
    tracker.send("exit");
    await tracker.exited;
  }
}
