// yardctl master | agent | batch | service: one daemon in the foreground until SIGINT/SIGTERM.
// The daemon modules are loaded only by these commands, so that client commands start fast
// and do not load SQLite.
import { mkdirSync } from "node:fs";
import type { Command } from "commander";
import { createLogger } from "../../common/logger.js";
import { loadLayers } from "../context.js";
import { settingsFields } from "../daemon-settings.js";
import {
  agentOptions,
  batchOptions,
  masterHaOptions,
  masterOptions,
  START_AFRESH_FLAG,
  START_AFRESH_HELP,
  serviceOptions,
} from "../daemon-options.js";
import { assertPortFree, waitForSignal } from "../lifecycle.js";
import { addAgentResourceOptions, collect, print } from "../options.js";
import { addTlsOptions } from "../transport.js";

/** `identity`: the default certificate name in the TLS directory. */
/** A framework's flags for running as one of several instances on etcd. */
function addFrameworkEtcdOptions(cmd: Command): Command {
  return cmd
    .option(
      "--etcd <url,...>",
      "run as one of several instances on etcd: state there, one active, the others take over (env YARD_ETCD; default: one instance, state in SQLite)",
    )
    .option("--etcd-prefix <prefix>", "key prefix in etcd (env YARD_ETCD_PREFIX; default /yard)")
    .option(
      "--etcd-lease-ttl <seconds>",
      "the active instance's lease; a standby takes over within about this long (env YARD_ETCD_LEASE_TTL; default 5)",
    );
}

function addDaemonOptions(cmd: Command, identity: string): Command {
  if (identity === "agent" || identity === "service" || identity === "batch") {
    cmd.option(
      "--metrics-listen <host:port>",
      "serve Prometheus /metrics and /healthz on this address, HTTPS for cluster certificates under mTLS (env YARD_METRICS_LISTEN; default off; docs/metrics.md)",
    );
  }
  return addTlsOptions(cmd, identity)
    .option("--data-dir <dir>", "data dir, shared with the other daemons (env YARD_HOME; default ~/.yard)")
    .option(
      "--shutdown-grace <seconds>",
      "on SIGTERM, how long open calls and parts get before they are cut (env YARD_SHUTDOWN_GRACE; default 10)",
    )
    .option("--token <token>", "auth token (env YARD_TOKEN; default: <data dir>/token if it exists)")
    .option("--config <file>", "YAML config file (env YARD_CONFIG; default <data dir>/config.yaml)");
}

export function registerDaemons(program: Command): void {
  addDaemonOptions(
    program
      .command("master")
      .description("run a master in the foreground")
      .option("--host <addr>", "address to listen on (env YARD_HOST; default 127.0.0.1)")
      .option("--port <port>", "gRPC port, 0 = a free one (env YARD_PORT; default 7070)")
      .option("--http-port <port>", "HTTP port, 0 = a free one (env YARD_HTTP_PORT; default 7071)")
      .option(
        "--allocation-interval-ms <ms>",
        "allocation cycle (env YARD_ALLOCATION_INTERVAL_MS; default 100)",
      )
      .option("--offer-timeout <seconds>", "offer timeout (env YARD_OFFER_TIMEOUT; default 30)")
      .option(
        "--agent-timeout <seconds>",
        "silence after which an agent is UNREACHABLE (env YARD_AGENT_TIMEOUT; default 15)",
      )
      .option(
        "--agent-gone-timeout <seconds>",
        "time an agent may stay UNREACHABLE before its tasks are LOST (env YARD_AGENT_GONE_TIMEOUT; default 300)",
      )
      .option(
        "--events-kept <n>",
        "cluster events kept for replay with yardctl events --since (env YARD_EVENTS_KEPT; default 10000)",
      )
      .option(
        "--role <name=weight[/quota]>",
        "role weight and optional quota, repeatable, e.g. analytics=2/cpus:8;mem:4096 (env YARD_ROLES; config: roles)",
        collect,
      )
      .option(
        "--acl-file <file>",
        "policy of principals, tokens and ACLs, YAML or JSON (env YARD_ACL_FILE; default: the built-in policy, docs/security.md)",
      )
      .option(
        "--advertise-host <addr>",
        "address in the announce URL of release torrents (env YARD_ADVERTISE_HOST; default --host, or the hostname when --host is a wildcard)",
      )
      .option(
        "--seed-port <port>",
        "BitTorrent port of the release seeder, 0 = a free one (env YARD_SEED_PORT; default 0)",
      )
      .option(
        "--seed-upload-limit <rate>",
        "upload cap of the release seeder in bytes/s, e.g. 50M (env YARD_SEED_UPLOAD_LIMIT; default none)",
      )
      .option(
        "--release-verify-interval <seconds>",
        "how often the stored releases' sha256 is checked at rest (env YARD_RELEASE_VERIFY_INTERVAL; default 3600)",
      )
      .option(
        "--release-copies <n>",
        "HA mode: standby masters that must hold a verified copy before a push succeeds, 0 = the leader's alone (env YARD_RELEASE_COPIES; default 1)",
      )
      .option(
        "--release-copy-timeout <seconds>",
        "HA mode: how long a push waits for those copies before it fails; the release stays (env YARD_RELEASE_COPY_TIMEOUT; default 120)",
      )
      .option(
        "--etcd <urls>",
        "HA mode: etcd client URLs, comma-separated; the masters elect a leader there and keep the registry there (env YARD_ETCD; docs/ha.md)",
      )
      .option(
        "--etcd-prefix <prefix>",
        "HA mode: this cluster's key prefix in etcd (env YARD_ETCD_PREFIX; default /yard)",
      )
      .option(
        "--etcd-lease-ttl <seconds>",
        "HA mode: TTL of the election lease; a leader that cannot renew it within 2/3 of it stops serving until etcd answers, and gives up after 4/3 of it (env YARD_ETCD_LEASE_TTL; default 3)",
      )
      .option(
        "--etcd-max-txn-ops <n>",
        "HA mode: etcd's --max-txn-ops; a registry change of more operations is written over several transactions (env YARD_ETCD_MAX_TXN_OPS; default 128, etcd's own default)",
      )
      .option(
        "--master-id <id>",
        "HA mode: this master's id (env YARD_MASTER_ID; default: made at the first start, kept in the data dir)",
      )
      .option(
        "--metrics-recording <bool>",
        "record the latency histograms and event counters of /metrics (env YARD_METRICS_RECORDING; default true)",
      )
      .option(START_AFRESH_FLAG, START_AFRESH_HELP),
    "master",
  ).action(async (flags: Record<string, unknown>) => {
    const layers = loadLayers(flags);
    const opts = masterOptions(layers);
    const ha = masterHaOptions(layers);
    await assertPortFree(opts.host!, opts.port!, "--port");
    await assertPortFree(opts.host!, opts.httpPort!, "--http-port");
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    if (ha) {
      const { startHaMaster } = await import("../../master/ha/ha-master-daemon.js");
      const logger = createLogger("master");
      logger.info("starting", { settings: settingsFields({ ...opts, ...ha }) });
      const handle = await startHaMaster({ ...opts, ...ha, logger });
      print(
        `master ${handle.id} listening on ${handle.address} (http ${opts.host}:${handle.httpPort}), HA on etcd ${ha.etcd.endpoints.join(",")} prefix ${ha.etcd.prefix}, data in ${opts.dataDir}`,
      );
      const signal = await waitForSignal();
      await handle.stop();
      logger.info("stopped", { signal });
      return;
    }
    const { startMaster } = await import("../../master/master-daemon.js");
    const logger = createLogger("master");
    logger.info("starting", { settings: settingsFields(opts) });
    const handle = await startMaster({ ...opts, logger });
    print(
      `master listening on ${handle.address} (http ${opts.host}:${handle.httpPort}), data in ${opts.dataDir}`,
    );
    const signal = await waitForSignal();
    await handle.stop();
    logger.info("stopped", { signal });
  });

  addDaemonOptions(
    addAgentResourceOptions(
      program
        .command("agent")
        .description("run an agent in the foreground")
        .option(
          "--master <host:port,...>",
          "the master to register with, or every master of an HA cluster, comma-separated (env YARD_MASTER; default 127.0.0.1:7070)",
        ),
    ),
    "agent",
  )
    .option("--keep-tasks", "on stop, leave the tasks running (they are re-attached on restart)")
    .action(async (flags: Record<string, unknown>) => {
      const opts = agentOptions(loadLayers(flags));
      // 0711, parents included: tasks run as another user and reach their sandbox by its
      // absolute path, so the dirs above it must let them pass (not list); see file-access.ts.
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o711 });
      const { startAgent } = await import("../../agent/agent-daemon.js");
      const logger = createLogger("agent");
      logger.info("starting", { settings: settingsFields(opts) });
      const handle = await startAgent({ ...opts, logger });
      print(`agent started, master ${opts.master}, data in ${opts.dataDir}`);
      const signal = await waitForSignal();
      await handle.stop({ killTasks: flags.keepTasks !== true });
      logger.info("stopped", { signal });
    });

  addDaemonOptions(
    addFrameworkEtcdOptions(program.command("batch"))
      .description("run the batch framework in the foreground")
      .option(
        "--master <host:port,...>",
        "the master to subscribe to, or every master of an HA cluster, comma-separated (env YARD_MASTER; default 127.0.0.1:7070)",
      )
      .option("--batch-host <addr>", "address of its BatchService (env YARD_BATCH_HOST; default 127.0.0.1)")
      .option(
        "--batch-port <port>",
        "port of its BatchService, 0 = a free one (env YARD_BATCH_PORT; default 0)",
      )
      .option(
        "--finished-jobs-kept <n>",
        "ended jobs remembered at most, oldest forgotten first (env YARD_FINISHED_JOBS_KEPT; default 1000)",
      )
      .option(
        "--finished-jobs-max-age <seconds>",
        "how long an ended job is remembered (env YARD_FINISHED_JOBS_MAX_AGE; default 604800, 7 days)",
      ),
    "batch",
  ).action(async (flags: Record<string, unknown>) => {
    const opts = batchOptions(loadLayers(flags));
    await assertPortFree(opts.host!, opts.port!, "--batch-port");
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const { startBatchFramework } = await import("../../frameworks/batch/batch-daemon.js");
    const logger = createLogger("batch");
    logger.info("starting", { settings: settingsFields(opts) });
    const handle = await startBatchFramework({ ...opts, logger });
    print(
      `batch framework serving on ${handle.endpoint}, master ${opts.master}${opts.etcd ? `, state on etcd (${opts.etcd.prefix}/frameworks/batch)` : ""}`,
    );
    const signal = await waitForSignal();
    await handle.stop();
    logger.info("stopped", { signal });
  });

  addDaemonOptions(
    addFrameworkEtcdOptions(program.command("service"))
      .description("run the service framework (apps, rollouts) in the foreground")
      .option(
        "--master <host:port,...>",
        "the master to subscribe to, or every master of an HA cluster, comma-separated (env YARD_MASTER; default 127.0.0.1:7070)",
      )
      .option(
        "--service-host <addr>",
        "address of its DeployService (env YARD_SERVICE_HOST; default 127.0.0.1)",
      )
      .option(
        "--service-port <port>",
        "port of its DeployService, 0 = a free one (env YARD_SERVICE_PORT; default 0)",
      ),
    "service",
  ).action(async (flags: Record<string, unknown>) => {
    const opts = serviceOptions(loadLayers(flags));
    await assertPortFree(opts.host!, opts.port!, "--service-port");
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const { startServiceFramework } = await import("../../frameworks/service/service-daemon.js");
    const logger = createLogger("service");
    logger.info("starting", { settings: settingsFields(opts) });
    const handle = await startServiceFramework({ ...opts, logger });
    print(
      `service framework serving on ${handle.endpoint}, master ${opts.master}${opts.etcd ? `, state on etcd (${opts.etcd.prefix}/frameworks/service)` : ""}`,
    );
    const signal = await waitForSignal();
    await handle.stop();
    logger.info("stopped", { signal });
  });
}
