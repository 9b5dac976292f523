// The aria2 reference's tracker, on the server host: a plain public BitTorrent HTTP tracker
// (bittorrent-tracker's Server, no private swarm, no filter), apart from Yard's so that the
// reference runs on nothing of Yard's. Prints {"ready":true} once it listens, then answers
// lines on stdin: "seeded" once a peer has announced a complete copy (the seeder is up and
// reachable, so the agents may start), "cpu" with its process.cpuUsage(), "exit" to stop.
// Usage: aria2-tracker.js IP PORT
import { createInterface } from "node:readline";

interface TrackerServer {
  torrents: Record<string, { complete: number } | undefined>;
  listen(port: number, host: string, cb: () => void): void;
  on(event: "warning" | "error", cb: (err: Error) => void): void;
}
type TrackerServerCtor = new (opts: { http: true; udp: false; ws: false; stats: false }) => TrackerServer;

// The package ships no types: loaded through a computed specifier, typed above.
const load = (name: string): Promise<any> => import(name);

function reply(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

async function main(): Promise<void> {
  const [ip, portText] = process.argv.slice(2);
  if (!ip || !portText) throw new Error("usage: aria2-tracker.js IP PORT");
  const Server = (await load("bittorrent-tracker")).Server as TrackerServerCtor;
  const server = new Server({ http: true, udp: false, ws: false, stats: false });
  // A malformed announce is the client's problem, not the benchmark's.
  server.on("warning", () => undefined);
  server.on("error", (err) => {
    process.stderr.write(`aria2-tracker: ${err.message}\n`);
    process.exit(1);
  });
  await new Promise<void>((r) => server.listen(Number(portText), ip, r));
  reply({ ready: true });

  const seeded = () => Object.values(server.torrents).some((s) => (s?.complete ?? 0) > 0);
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "seeded") {
      // The seeder announces once its hash check is done; a short poll costs nothing here,
      // and leaves the line reader free to hear "exit" meanwhile.
      const poll = setInterval(() => {
        if (!seeded()) return;
        clearInterval(poll);
        reply({ seeded: true });
      }, 50);
    }
    if (cmd === "cpu") reply({ cpu: process.cpuUsage() });
    if (cmd === "exit") rl.close();
  });
  // "exit", or the benchmark gone (stdin closed). The tracker holds nothing worth a clean
  // close, and an open keep-alive connection must not hold the exit up.
  rl.on("close", () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`aria2-tracker: ${(err as Error).stack}\n`);
  process.exit(1);
});
