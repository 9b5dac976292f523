// Flags shared by commands, declared once so that help texts agree.
import type { Command } from "commander";
import { ALLOW_ROOT_TASKS_FLAG, ALLOW_ROOT_TASKS_HELP } from "./daemon-options.js";
import { addTlsOptions } from "./transport.js";

/** --master, --token, --config: on every command that talks to the master. */
export function addClientOptions(cmd: Command): Command {
  return addTlsOptions(cmd, "admin")
    .option(
      "--master <host:port,...>",
      "the master's gRPC address, or every master of an HA cluster, comma-separated: the leader answers (env YARD_MASTER; default 127.0.0.1:7070)",
    )
    .option(
      "--token <token>",
      "auth token (env YARD_TOKEN; default: the token file in $YARD_HOME or ~/.yard)",
    )
    .option(
      "--config <file>",
      "YAML config file (env YARD_CONFIG; default $YARD_HOME/config.yaml if present)",
    );
}

/** Collects a repeatable flag into a list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Agent resource flags, shared by `agent` and `up`. No commander defaults: config.ts decides. */
export function addAgentResourceOptions(cmd: Command): Command {
  return cmd
    .option("--cpus <n>", "CPUs to offer (env YARD_CPUS; default: detected)")
    .option("--mem <MiB>", "memory to offer in MiB (env YARD_MEM; default: detected)")
    .option("--disk <MiB>", "disk to offer in MiB (env YARD_DISK; default: detected)")
    .option("--ports <ranges>", "port ranges to offer, e.g. 31000-32000 (env YARD_PORTS)")
    .option(
      "--attribute <name=value>",
      "agent attribute, repeatable (env YARD_ATTRIBUTES=zone=a,rack=r1)",
      collect,
    )
    .option("--hostname <name>", "hostname to register with (env YARD_HOSTNAME)")
    .option(
      "--executors <list>",
      "executors to offer, comma-separated, e.g. docker,process (env YARD_EXECUTORS; default: process; with up, also docker when an engine answers)",
    )
    .option(
      "--docker-socket <addr>",
      "the Docker engine: unix:///path, /path or tcp://host:port (env YARD_DOCKER_SOCKET, then DOCKER_HOST; default /var/run/docker.sock)",
    )
    .option(
      "--allow-host-path <path>",
      "a host path docker tasks may mount, repeatable (env YARD_ALLOWED_HOST_PATHS=/a,/b; default none)",
      collect,
    )
    .option("--kill-grace <seconds>", "default SIGTERM-to-SIGKILL grace (env YARD_KILL_GRACE)")
    .option(
      "--task-user <name>",
      "the user process tasks run as when their framework names none; created when it is the default and missing (env YARD_TASK_USER; default yard-task; only an agent running as root switches users)",
    )
    .option(ALLOW_ROOT_TASKS_FLAG, ALLOW_ROOT_TASKS_HELP)
    .option(
      "--tar-timeout <seconds>",
      "unpacking a tar release into a sandbox is killed past this (env YARD_TAR_TIMEOUT; default 300)",
    )
    .option(
      "--docker-load-timeout <seconds>",
      "docker load of an image release is killed past this (env YARD_DOCKER_LOAD_TIMEOUT; default 600)",
    )
    .option(
      "--cache-dir <dir>",
      "release cache directory (env YARD_CACHE_DIR; default <data dir>/agent/cache)",
    )
    .option(
      "--cache-size <MiB>",
      "release cache limit in MiB, LRU eviction past it (env YARD_CACHE_SIZE; default unlimited)",
    )
    .option(
      "--disk-reserve <MiB>",
      "disk space kept free: a fetch must leave it, disk pressure ends once it is free (env YARD_DISK_RESERVE; default 5% of the disk, at most 64)",
    )
    .option(
      "--upload-rate <rate>",
      "BitTorrent upload limit in bytes/s, e.g. 10M (env YARD_UPLOAD_RATE; default unlimited)",
    )
    .option(
      "--download-rate <rate>",
      "BitTorrent download limit in bytes/s, e.g. 10M (env YARD_DOWNLOAD_RATE; default unlimited)",
    )
    .option("--peer-port <port>", "BitTorrent listen port, 0 = a free one (env YARD_PEER_PORT; default 0)")
    .option(
      "--peer-host <addr>",
      "address the BitTorrent listener binds to (env YARD_PEER_HOST; default the local address toward the master)",
    );
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}
