// The server host of the distribution benchmark: a real Yard master (release store, tracker on
// its HTTP port, seeder) holding the release, pushed through its ReleaseService as
// `yardctl release push` does; and a plain HTTP server of the same file (the central-server
// baseline). Writes the master's .torrent of the release to TORRENT_OUT (and the swarm's
// credentials to TORRENT_OUT.swarm.json), prints one JSON line
// when everything listens, answers "stats" with the seeder's counters and the process's
// process.cpuUsage() so far (the benchmark takes the difference across a phase), stops on
// "exit".
// Usage: bench-server.js IP FILE TORRENT_OUT DATA_DIR
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { ReleaseClient } from "../../cli/commands/release.js";
import { silentLogger } from "../../common/logger.js";
import { startMaster } from "../../master/master-daemon.js";
import { benchMasterName, GRPC_PORT, HTTP_PORT, TRACKER_PORT } from "./ports.js";
import { tlsMaterial } from "../../test/tls-fixture.js";

/** The release name bench-agent.ts fetches. */
const BENCH_RELEASE = "bench@1";

async function main(): Promise<void> {
  const [ip, file, torrentOut, dataDir] = process.argv.slice(2);
  if (!ip || !file || !torrentOut || !dataDir)
    throw new Error("usage: bench-server.js IP FILE TORRENT_OUT DATA_DIR");
  const token = "bench";
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const insecure = process.env.YARD_BENCH_INSECURE === "1";
  const master = await startMaster({
    ...(insecure ? { insecure } : { tls: tlsMaterial(benchMasterName(ip), "master", [], [ip]) }),
    dataDir,
    host: ip,
    port: GRPC_PORT,
    httpPort: TRACKER_PORT,
    token,
    logger: silentLogger,
  });
  const client = new ReleaseClient({
    address: master.address,
    token,
    tls: insecure ? null : tlsMaterial("admin"),
  });
  const size = fs.statSync(file).size;
  const [name, version] = BENCH_RELEASE.split("@") as [string, string];
  await client.push(
    { name, version, kind: "file", fileName: path.basename(file), size, image: "" },
    file,
    () => undefined,
  );
  fs.writeFileSync(torrentOut, (await client.getTorrent(BENCH_RELEASE)).torrent);
  // The swarm is private: the fetchers, which are not registered agents, act with the
  // master's own credentials (bench-agent.ts reads them next to the torrent).
  const creds = master.releases.masterSwarmCredentials();
  fs.writeFileSync(
    `${torrentOut}.swarm.json`,
    JSON.stringify({ key: creds.swarmKey.toString("hex"), passkey: creds.swarmPasskey }),
    { mode: 0o600 },
  );
  const status = await client.status(BENCH_RELEASE);
  if (!status.seeded) throw new Error(`the master does not seed ${BENCH_RELEASE}`);
  client.close();

  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-length": size, "content-type": "application/octet-stream" });
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(HTTP_PORT, ip, r));
  process.stdout.write(
    `${JSON.stringify({ ready: true, sha256: status.release?.sha256, pieceLength: status.release?.pieceLength })}\n`,
  );

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === "stats") {
      const s = master.releases.seedStats(BENCH_RELEASE);
      process.stdout.write(`${JSON.stringify({ uploaded: s?.uploaded ?? 0, cpu: process.cpuUsage() })}\n`);
    }
    if (line.trim() === "exit") break;
  }
  server.close();
  await master.stop();
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench-server: ${(err as Error).stack}\n`);
  process.exit(1);
});
