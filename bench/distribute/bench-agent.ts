// One agent host of the distribution benchmark. Prints {"ready":true}, waits for "go" on
// stdin, fetches the release (mode "bt": Yard's fetcher from the swarm; mode "http": one GET
// from the server), verifies its sha256, prints {"done":ms,...}, and keeps seeding until
// stdin says "exit" (the other agents still need its pieces). "stats" answers with its upload
// and its CPU since "go" (cpu.ts).
// Usage: bench-agent.js bt|http IP SERVER_IP TORRENT SHA256 SIZE DIR
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { ArtifactFetcher } from "../../agent/fetcher/artifact-fetcher.js";
import { silentLogger } from "../../common/logger.js";
import { HTTP_PORT } from "./ports.js";
import { tlsMaterial } from "../../test/tls-fixture.js";

async function httpFetch(serverIp: string, dest: string): Promise<string> {
  const hash = createHash("sha256");
  await new Promise<void>((resolve, reject) => {
    http
      .get({ host: serverIp, port: HTTP_PORT, path: "/release" }, (res) => {
        const out = fs.createWriteStream(dest);
        res.on("data", (c: Buffer) => hash.update(c));
        res.pipe(out);
        out.on("finish", resolve);
        res.on("error", reject);
      })
      .on("error", reject);
  });
  return hash.digest("hex");
}

async function main(): Promise<void> {
  const [mode, ip, serverIp, torrentPath, sha256, sizeText, dir] = process.argv.slice(2);
  if (!mode || !ip || !serverIp || !torrentPath || !sha256 || !sizeText || !dir) {
    throw new Error("usage: bench-agent.js bt|http IP SERVER_IP TORRENT SHA256 SIZE DIR");
  }
  const size = Number(sizeText);
  fs.mkdirSync(dir, { recursive: true });
  const fetcher =
    mode === "bt"
      ? new ArtifactFetcher(
          { onProgress: () => undefined },
          {
            cacheDir: path.join(dir, "cache"),
            listenHost: ip,
            logger: silentLogger,
            tls: process.env.YARD_BENCH_INSECURE === "1" ? null : tlsMaterial("agent"),
          },
        )
      : undefined;
  await fetcher?.start();
  if (fetcher) {
    // The private swarm's key and a passkey, from bench-server.ts.
    const swarm = JSON.parse(fs.readFileSync(`${torrentPath}.swarm.json`, "utf8")) as {
      key: string;
      passkey: string;
    };
    fetcher.setSwarmCredentials(Buffer.from(swarm.key, "hex"), swarm.passkey);
  }
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  while ((await lines.next()).value?.trim() !== "go") {
    // wait for the start signal
  }
  // From "go" on: starting the fetcher is setup, not distribution.
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let got: string;
  if (fetcher) {
    const torrent = fs.readFileSync(torrentPath);
    const entry = await fetcher.fetch({ release: "bench@1", sha256, torrent, kind: "file", size });
    got = entry.verified ? sha256 : "unverified";
  } else {
    got = await httpFetch(serverIp, path.join(dir, "release.bin"));
  }
  const ms = Date.now() - t0;
  process.stdout.write(
    `${JSON.stringify({ done: ms, ok: got === sha256, uploaded: fetcher?.uploaded("bench@1") ?? 0 })}\n`,
  );
  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    if (next.value.trim() === "stats") {
      process.stdout.write(
        `${JSON.stringify({ uploaded: fetcher?.uploaded("bench@1") ?? 0, cpu: process.cpuUsage(cpu0) })}\n`,
      );
    }
    if (next.value.trim() === "exit") break;
  }
  await fetcher?.stop();
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench-agent: ${(err as Error).stack}\n`);
  process.exit(1);
});
