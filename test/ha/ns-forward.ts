// Run inside a network namespace (`nsenter --net=...`): forwards each Unix socket to a TCP
// address as that namespace sees it. Unix sockets live in the file system, which every
// namespace shares, so the test process reaches servers in namespaces it cannot route to, and
// sees them from where the forwarder runs (a partitioned host's own view, or the other side's).
//   node ns-forward.js SOCKET=HOST:PORT ...      prints "ready" once every socket listens
import { connect, createServer } from "node:net";

const routes = process.argv.slice(2).map((arg) => {
  const m = /^(.+)=(.+):(\d+)$/.exec(arg);
  if (!m) throw new Error(`${arg} is not SOCKET=HOST:PORT`);
  return { socket: m[1]!, host: m[2]!, port: Number(m[3]) };
});

let listening = 0;
for (const r of routes) {
  createServer((inbound) => {
    const outbound = connect(r.port, r.host);
    inbound.pipe(outbound).on("error", () => inbound.destroy());
    outbound.pipe(inbound).on("error", () => outbound.destroy());
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  }).listen(r.socket, () => {
    if (++listening === routes.length) process.stdout.write("ready\n");
  });
}
