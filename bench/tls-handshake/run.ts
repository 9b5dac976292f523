// The TLS handshake benchmark: full mTLS handshakes (node:tls, TLS 1.3, a client certificate
// required and verified, no session resumption) between this process and a server process,
// with certificates from common/pki.ts: RSA-2048 keys (what Yard issued before) and ECDSA
// P-256 keys (what it issues now), rounds alternating so that both see the same machine. It
// prints, per key type, the medians over rounds of handshakes per second and of CPU ms per
// handshake on the server side (a master, after a failover, handshakes with every agent) and
// on the client side, and the ratios. Before that, the cost of the one signature and the
// verifications each side makes per handshake, alone.
//
//   node dist/bench/tls-handshake/run.js [--handshakes 1000] [--rounds 5] [--concurrency 8]
import { type ChildProcess, fork } from "node:child_process";
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { connect, createSecureContext, createServer, type SecureContext, type TLSSocket } from "node:tls";
import { parseArgs } from "node:util";
import { createCa, issueCertificate, type KeyAlgorithm } from "../../common/pki.js";

interface Material {
  ca: string;
  cert: string;
  key: string;
}
type ToServer = { listen: Material } | { cpu: true };
type FromServer = { port: number } | { cpuMs: number };

if (process.argv.includes("--serve")) serve();
else await main();

/** The server process: one TLS server per `listen`, its process CPU on `cpu`. */
function serve(): void {
  process.on("message", (msg: ToServer) => {
    if ("cpu" in msg) {
      const u = process.cpuUsage();
      process.send?.({ cpuMs: (u.user + u.system) / 1000 } satisfies FromServer);
      return;
    }
    const server = createServer({
      ...msg.listen,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    });
    // One byte after the handshake: the client counts a handshake once the server has
    // verified its certificate, not merely once its own side is done.
    server.on("secureConnection", (s: TLSSocket) => s.end("k"));
    server.on("tlsClientError", () => undefined);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      if (addr && typeof addr === "object") process.send?.({ port: addr.port } satisfies FromServer);
    });
  });
  process.on("disconnect", () => process.exit(0));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      handshakes: { type: "string", default: "1000" },
      rounds: { type: "string", default: "5" },
      concurrency: { type: "string", default: "8" },
    },
  });
  const N = positive(values.handshakes, "--handshakes");
  const ROUNDS = positive(values.rounds, "--rounds");
  const CONCURRENCY = positive(values.concurrency, "--concurrency");

  const child = fork(fileURLToPath(import.meta.url), ["--serve"], { stdio: "inherit" });
  try {
    const kinds: { label: string; alg: KeyAlgorithm }[] = [
      { label: "RSA-2048", alg: "rsa-2048" },
      { label: "ECDSA P-256", alg: "ecdsa-p256" },
    ];
    const setups = [];
    for (const k of kinds) {
      const ca = createCa({ keyAlgorithm: k.alg });
      const server = issueCertificate(ca, { kind: "master", name: "master", keyAlgorithm: k.alg });
      // One secure context per client identity, as grpc-js keeps one per channel credentials:
      // the key and CA are parsed once, each handshake then costs only the handshake.
      const client = createSecureContext({
        ca: ca.cert,
        ...issueCertificate(ca, { kind: "agent", name: "agent", keyAlgorithm: k.alg }),
      });
      const port = await ask<{ port: number }>(child, { listen: { ca: ca.cert, ...server } });
      setups.push({ ...k, port: port.port, client, key: server.key, cert: server.cert, runs: [] as Run[] });
    }
    for (const s of setups) primitives(s.label, s.key, s.cert);
    console.log(
      `tls-handshake: ${N} mTLS handshakes per round, ${CONCURRENCY} at a time, ${ROUNDS} rounds per key type (TLS 1.3, no resumption)`,
    );
    // A warm-up per type (JIT, the first OpenSSL contexts), not counted.
    for (const s of setups) await handshakes(s.port, s.client, Math.min(N, 50), CONCURRENCY);
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of setups) {
        const run = await measure(child, s.port, s.client, N, CONCURRENCY);
        s.runs.push(run);
        console.log(
          `  round ${r + 1} ${s.label.padEnd(11)}: ${run.perSecond.toFixed(0)} handshakes/s, server ${run.serverMs.toFixed(3)} ms CPU, client ${run.clientMs.toFixed(3)} ms CPU per handshake`,
        );
      }
    }
    const med = setups.map((s) => ({
      label: s.label,
      perSecond: median(s.runs.map((x) => x.perSecond)),
      serverMs: median(s.runs.map((x) => x.serverMs)),
      clientMs: median(s.runs.map((x) => x.clientMs)),
    }));
    console.log("medians:");
    for (const m of med) {
      console.log(
        `  ${m.label.padEnd(11)}: ${m.perSecond.toFixed(0)} handshakes/s, server ${m.serverMs.toFixed(3)} ms CPU, client ${m.clientMs.toFixed(3)} ms CPU per handshake`,
      );
    }
    const [rsa, ec] = med;
    console.log(
      `P-256 vs RSA-2048: ${(ec.perSecond / rsa.perSecond).toFixed(2)}x handshakes/s, server CPU per handshake ${(rsa.serverMs / ec.serverMs).toFixed(2)}x lower, client ${(rsa.clientMs / ec.clientMs).toFixed(2)}x lower`,
    );
  } finally {
    child.disconnect();
  }
}

/** CPU ms of one signature (CertificateVerify) and one verification (of a peer's signature or certificate). */
function primitives(label: string, keyPem: string, certPem: string): void {
  const key = createPrivateKey(keyPem);
  const pub = createPublicKey(certPem);
  const data = Buffer.alloc(64, 1);
  const n = 200;
  let sig = sign("sha256", data, key);
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) sig = sign("sha256", data, key);
  const t1 = process.cpuUsage(t0);
  for (let i = 0; i < n; i++) verify("sha256", data, pub, sig);
  const t2 = process.cpuUsage(t0);
  const ms = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000 / n;
  console.log(
    `${label.padEnd(11)}: one signature ${ms(t1).toFixed(3)} ms CPU, one verification ${(ms(t2) - ms(t1)).toFixed(3)} ms CPU`,
  );
}

interface Run {
  perSecond: number;
  serverMs: number;
  clientMs: number;
}

async function measure(
  child: ChildProcess,
  port: number,
  client: SecureContext,
  n: number,
  concurrency: number,
): Promise<Run> {
  const server0 = (await ask<{ cpuMs: number }>(child, { cpu: true })).cpuMs;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await handshakes(port, client, n, concurrency);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const server1 = (await ask<{ cpuMs: number }>(child, { cpu: true })).cpuMs;
  return {
    perSecond: (n / wall) * 1000,
    serverMs: (server1 - server0) / n,
    clientMs: (cpu.user + cpu.system) / 1000 / n,
  };
}

/** `n` handshakes, `concurrency` in flight; each ends when the server's byte arrives. */
async function handshakes(port: number, m: SecureContext, n: number, concurrency: number): Promise<void> {
  let started = 0;
  const lane = async () => {
    while (started < n) {
      started++;
      await handshake(port, m);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

function handshake(port: number, secureContext: SecureContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      secureContext,
      minVersion: "TLSv1.3",
    });
    socket.once("data", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
    socket.once("end", () => reject(new Error("the server closed the connection before its byte")));
  });
}

function ask<T extends FromServer>(child: ChildProcess, msg: ToServer): Promise<T> {
  const reply = once(child, "message") as Promise<[T]>;
  child.send(msg);
  return reply.then(([r]) => r);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function positive(v: string | undefined, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${flag} ${JSON.stringify(v)}: must be a whole number >= 1`);
    process.exit(2);
  }
  return n;
}
