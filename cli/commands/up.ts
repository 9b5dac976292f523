// yardctl up: a whole cluster in one process (master, one agent, the batch and service
// frameworks), for a laptop or a test. With --masters N the masters (and an etcd, unless one
// is given) are child processes instead, so that one can be killed to watch a failover.
// Ctrl-C stops everything cleanly and kills the agent's tasks.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { createLogger } from "../../common/logger.js";
import { loadLayers, readTokenFile, resolveHome } from "../context.js";
import { resolveSettings } from "../config.js";
import {
  agentOptions,
  batchOptions,
  masterOptions,
  START_AFRESH_FLAG,
  START_AFRESH_HELP,
  serviceOptions,
} from "../daemon-options.js";
import { UsageError } from "../errors.js";
import { assertPortFree, pollFor, waitForSignal } from "../lifecycle.js";
import { addAgentResourceOptions, print } from "../options.js";
import { tlsDirOf } from "../transport.js";
import { ensureUpCertificates, masterSans, upIdentities } from "../up-certs.js";
import { etcdOnPath, LOCAL_ETCD_MAX_TXN_OPS, startLocalEtcd } from "../local-etcd.js";
import { startUpMasters } from "../up-masters.js";

const log = createLogger("up");

/** Reads the token file of `home`, creating it (0600, random) on first start. */
export function ensureTokenFile(home: string): string {
  const existing = readTokenFile(home);
  if (existing) return existing;
  const token = randomBytes(24).toString("hex");
  writeFileSync(join(home, "token"), `${token}\n`, { mode: 0o600 });
  return token;
}

/** --masters: 1 by default; more means HA on etcd. */
function parseMasterCount(value: unknown): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 9)
    throw new UsageError(
      `--masters ${JSON.stringify(value)}: give a whole number from 1 to 9 (3 or 5 for HA)`,
    );
  return n;
}

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export function registerUp(program: Command): void {
  addAgentResourceOptions(
    program
      .command("up")
      .description("run a master, an agent, the batch and the service frameworks in this process")
      .option("--data-dir <dir>", "where to keep state (env YARD_HOME; default ~/.yard)")
      .option("--temp", "use a fresh temporary data dir, removed on exit")
      .option("--host <addr>", "address to listen on (env YARD_HOST; default 127.0.0.1)")
      .option("--port <port>", "master gRPC port, 0 = a free one (env YARD_PORT; default 7070)")
      .option("--http-port <port>", "master HTTP port, 0 = a free one (env YARD_HTTP_PORT; default 7071)")
      .option("--batch-port <port>", "batch framework port, 0 = a free one (env YARD_BATCH_PORT; default 0)")
      .option(
        "--masters <n>",
        "run N masters (HA on etcd, docs/ha.md): master i listens on --port + 2i and --http-port + 2i (default 1: one master on SQLite)",
      )
      .option(
        "--etcd <urls>",
        "with --masters N > 1: the etcd to elect and keep the registry in (default: start one here, if etcd is on PATH)",
      )
      .option(
        "--token <token>",
        "auth token (env YARD_TOKEN; default: <data dir>/token, created on first start)",
      )
      .option("--config <file>", "YAML config file (env YARD_CONFIG; default <data dir>/config.yaml)")
      .option(
        "--insecure",
        "plaintext, no certificates: development on one trusted host only; warned on every start",
      )
      .option(START_AFRESH_FLAG, START_AFRESH_HELP),
  ).action(async (flags: Record<string, unknown>) => {
    if (flags.temp && flags.dataDir !== undefined)
      throw new UsageError("--temp and --data-dir: give one or the other");
    const masterCount = parseMasterCount(flags.masters);
    if (masterCount === 1 && flags.etcd !== undefined)
      throw new UsageError("--etcd is for --masters N with N > 1 (one master keeps its registry in SQLite)");
    if (masterCount > 1 && flags.etcd === undefined && !etcdOnPath())
      throw new UsageError(
        `--masters ${masterCount} needs etcd: install it (Debian: apt-get install etcd-server) or pass --etcd URL`,
      );
    const temp = flags.temp ? mkdtempSync(join(tmpdir(), "yard-")) : undefined;
    const home = resolveHome(loadLayers(temp ? { ...flags, dataDir: temp } : flags));
    // Every daemon of `up` uses the TLS directory of its own data dir, whatever YARD_TLS_DIR says.
    const tlsDir = tlsDirOf(home);
    const layers = loadLayers({ ...flags, dataDir: home, tlsDir });
    const started: Stoppable[] = [];
    try {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      if (resolveSettings(["insecure"], layers).insecure !== true) {
        const where = resolveSettings(["host", "advertiseHost"], layers);
        const made = ensureUpCertificates(tlsDir, upIdentities(masterSans(where.host!, where.advertiseHost)));
        if (made.length > 0)
          log.info("created the cluster CA and certificates", { dir: tlsDir, files: made.length });
      }
      const mopts = masterOptions(layers, "");
      if (masterCount === 1) {
        await assertPortFree(mopts.host!, mopts.port!, "--port");
        await assertPortFree(mopts.host!, mopts.httpPort!, "--http-port");
      }
      // Passable but not listable: tasks, which run as another user, reach their sandboxes
      // under agent/ by path; everything else here is closed to them (0700 dirs, 0600 token).
      mkdirSync(home, { recursive: true, mode: 0o711 });
      chmodSync(home, 0o711);
      // Also when the token comes from elsewhere (flag, env): a token file here is a secret.
      if (existsSync(join(home, "token"))) chmodSync(join(home, "token"), 0o600);
      const token = resolveSettings(["token"], layers).token ?? ensureTokenFile(home);
      for (const dir of ["master", "agent", "batch", "service"]) {
        mkdirSync(join(home, dir), { recursive: true, mode: 0o700 });
        if (dir !== "agent") chmodSync(join(home, dir), 0o700);
      }

      let masterAddress: string;
      let masterLines: string[];
      if (masterCount === 1) {
        const { startMaster } = await import("../../master/master-daemon.js");
        const master = await startMaster({ ...mopts, token, logger: createLogger("master") });
        started.push({ name: "master", stop: () => master.stop() });
        masterAddress = master.address;
        masterLines = [
          `  master      ${master.address}   (${mopts.tls ? "https" : "http"} ${mopts.host}:${master.httpPort})`,
        ];
      } else {
        let etcd = flags.etcd as string | undefined;
        let etcdNote = "";
        let etcdMaxTxnOps: number | undefined;
        if (etcd === undefined) {
          const local = await startLocalEtcd(join(home, "etcd"));
          started.push({ name: "etcd", stop: () => local.stop() });
          etcd = local.endpoint;
          etcdMaxTxnOps = LOCAL_ETCD_MAX_TXN_OPS;
          etcdNote = `   (pid ${local.pid}; data in ${join(home, "etcd")})`;
        }
        const masters = await startUpMasters({
          count: masterCount,
          home,
          host: mopts.host!,
          port: mopts.port!,
          httpPort: mopts.httpPort!,
          etcd,
          etcdMaxTxnOps,
          tlsDir: mopts.tls ? tlsDir : undefined,
          token,
          env: { YARD_LOG_LEVEL: process.env.YARD_LOG_LEVEL ?? "info" },
        });
        for (const m of masters) started.push({ name: m.name, stop: () => m.stop() });
        masterAddress = masters.map((m) => m.address).join(",");
        masterLines = [
          ...masters.map(
            (m) =>
              `  ${m.name.padEnd(11)} ${m.address}   (pid ${m.pid}; ${mopts.tls ? "https" : "http"} ${m.httpAddress})`,
          ),
          `  etcd        ${etcd}${etcdNote}`,
        ];
      }

      const { startAgent } = await import("../../agent/agent-daemon.js");
      const aopts = agentOptions(layers, token, masterAddress);
      const agent = await startAgent({
        ...aopts,
        // A laptop cluster uses the engine it finds (--docker-socket, DOCKER_HOST).
        dockerIfAvailable: aopts.executors === undefined,
        logger: createLogger("agent"),
      });
      started.push({ name: "agent", stop: () => agent.stop({ killTasks: true }) });

      const { startBatchFramework } = await import("../../frameworks/batch/batch-daemon.js");
      const batch = await startBatchFramework({
        ...batchOptions(layers, token, masterAddress),
        logger: createLogger("batch"),
      });
      started.push({ name: "batch framework", stop: () => batch.stop() });

      const { startServiceFramework } = await import("../../frameworks/service/service-daemon.js");
      const service = await startServiceFramework({
        ...serviceOptions(layers, token, masterAddress),
        logger: createLogger("service"),
      });
      started.push({ name: "service framework", stop: () => service.stop() });

      const agentId = await pollFor(() => agent.agentId(), 10_000);
      await pollFor(() => batch.frameworkId(), 10_000);
      const lines = [
        "Yard is up.",
        ...masterLines,
        `  agent       ${agentId ?? "(registering)"}   (executors: ${agent.executors().join(", ")})`,
        `  batch       ${batch.endpoint}`,
        `  service     ${service.endpoint}`,
        `  data dir    ${home}${temp ? "   (removed on exit)" : ""}`,
        `  token       ${join(home, "token")}`,
        `  tls         ${mopts.tls ? `${tlsDir} (mTLS; yardctl uses admin.crt)` : "OFF (--insecure)"}`,
        "Try:",
      ];
      const defaultHome = join(homedir(), ".yard");
      const env: string[] = [];
      if (masterAddress !== "127.0.0.1:7070") env.push(`YARD_MASTER=${masterAddress}`);
      if (home !== (process.env.YARD_HOME ?? defaultHome)) env.push(`YARD_HOME=${home}`);
      if (env.length > 0) lines.push(`  export ${env.join(" ")}`);
      lines.push("  yardctl get agents", "  yardctl run -- echo hi");
      if (masterCount > 1)
        lines.push("  yardctl get masters        (kill -9 the leader's pid, then ask again)");
      if (agent.executors().includes("docker")) lines.push("  yardctl run --image IMAGE -- echo hi");
      lines.push("Press Ctrl-C to stop.");
      print(lines.join("\n"));

      const sig = await waitForSignal(() => process.stderr.write("yardctl: stopping now\n"));
      log.info("stopping", { signal: sig });
    } finally {
      // The reverse of the start order: the framework first (no new launches), then the
      // agent (kills its tasks), the master last.
      for (const s of started.reverse()) {
        await s.stop().catch((err: unknown) => log.error(`stopping the ${s.name} failed`, { err }));
      }
      if (temp) rmSync(temp, { recursive: true, force: true });
    }
  });
}
