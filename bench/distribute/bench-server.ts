// The server host of the distribution benchmark: a bittorrent-tracker and a webtorrent seed of
// the release (Yard's side), and a plain HTTP server of the same file (the central-server
// baseline). Prints one JSON line when everything listens; stops on stdin "exit".
// Usage: bench-server.js IP FILE TORRENT [UPLOAD_SLOTS]
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { createSwarmClient, destroySwarmClient } from "../../agent/fetcher/webtorrent-api.js";
import { HTTP_PORT, TRACKER_PORT } from "./ports.js";

async function main(): Promise<void> {
  const [ip, file, torrentPath, slots] = process.argv.slice(2);
  if (!ip || !file || !torrentPath) throw new Error("usage: bench-server.js IP FILE TORRENT");
  type ServerCtor = new (
    opts: Record<string, unknown>,
  ) => {
    listen(port: number, host: string, cb: () => void): void;
    on(e: string, cb: (err: unknown) => void): void;
    close(cb: () => void): void;
  };
  const { Server } = (await import("bittorrent-tracker" as string)) as { Server: ServerCtor };
  const tracker = new Server({ http: true, udp: false, ws: false, stats: false });
  tracker.on("warning", () => undefined);
  await new Promise<void>((r) => tracker.listen(TRACKER_PORT, ip, r));

  const client = await createSwarmClient({ listenHost: ip });
  client.on("error", (err) => process.stderr.write(`seed error: ${String(err)}\n`));
  await new Promise<void>((r) =>
    client.add(
      fs.readFileSync(torrentPath),
      { path: path.dirname(file), skipVerify: true, uploads: slots ? Number(slots) : undefined },
      () => r(),
    ),
  );

  const server = http.createServer((_req, res) => {
    const st = fs.statSync(file);
    res.writeHead(200, { "content-length": st.size, "content-type": "application/octet-stream" });
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(HTTP_PORT, ip, r));
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === "stats") {
      const t = client.torrents[0];
      process.stdout.write(`${JSON.stringify({ uploaded: t?.uploaded ?? 0 })}\n`);
    }
    if (line.trim() === "exit") break;
  }
  server.close();
  await destroySwarmClient(client);
  await new Promise<void>((r) => tracker.close(r));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench-server: ${(err as Error).stack}\n`);
  process.exit(1);
});
