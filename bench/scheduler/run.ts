// The scheduler benchmark: a real master process, N real agents (AgentDaemon, many per fleet
// process, each its own master stream and in-memory checkpoint, with an executor that starts
// no process: a task is RUNNING at once) and M frameworks (SDK drivers) placing T tasks.
// Prints registration, end-to-end placements/s (Accept to RUNNING), allocation cycle times,
// master RSS, and the ratio to the allocator's own placements/s measured in-process in this run.
//
//   node dist/bench/scheduler/run.js [--agents 10000] [--frameworks 10] [--tasks 50000]
//     [--transport tls|insecure|both]   (default tls; both: the same run twice, side by side)
//     [--store sqlite|etcd|both]        (the registry: default sqlite; etcd starts its own
//                                        member; both: the same run on each, and their ratio)
//     [--metrics on|off|both]           (the master's metrics recording: default on; both: the
//                                        same run without and with, and their ratio)
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseResources } from "../../common/resources.js";
import { SchedulerDriver, TaskState, takeTasks, taskInfo } from "../../framework-sdk/index.js";
import { type FleetProcess, spawnFleet, stopFleet } from "../fleet/spawn-fleet.js";
import { benchAllocator } from "./allocator-bench.js";
import { clusterDispatcher } from "../../common/cluster-fetch.js";
import { testTlsDir, tlsEnv, tlsMaterial, tlsOf } from "../../test/tls-fixture.js";
import { type EtcdMember, startEtcd } from "../../test/etcd-fixture.js";

const here = dirname(fileURLToPath(import.meta.url));
const yardctl = resolve(here, "../../cli/yardctl.js");
const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "10000" },
    frameworks: { type: "string", default: "10" },
    tasks: { type: "string", default: "50000" },
    "agent-procs": { type: "string", default: "1" },
    /** tls (mTLS, the default), insecure (plaintext), or both in one run for the TLS cost. */
    transport: { type: "string", default: "tls" },
    /** The master's registry: sqlite, etcd (a member started for the run), or both side by side. */
    store: { type: "string", default: "sqlite" },
    /** The master's latency histograms and counters: on, off, or both side by side. */
    metrics: { type: "string", default: "on" },
    /** Write a CPU profile of the master process into this dir. */
    "profile-dir": { type: "string" },
  },
});
const N = Number(values.agents);
const M = Number(values.frameworks);
const T = Number(values.tasks);
const PROCS = Number(values["agent-procs"]);
const TASK = { cpus: 0.5, mem: 256 };
const TRANSPORTS: Record<string, boolean[]> = { tls: [true], insecure: [false], both: [false, true] };
const modes = TRANSPORTS[values.transport ?? "tls"];
if (!modes) {
  console.error(`--transport ${JSON.stringify(values.transport)}: use tls, insecure or both`);
  process.exit(2);
}
type StoreKind = "sqlite" | "etcd";
const STORES: Record<string, StoreKind[]> = { sqlite: ["sqlite"], etcd: ["etcd"], both: ["sqlite", "etcd"] };
const stores = STORES[values.store ?? "sqlite"];
if (!stores) {
  console.error(`--store ${JSON.stringify(values.store)}: use sqlite, etcd or both`);
  process.exit(2);
}

const METRICS: Record<string, boolean[]> = { on: [true], off: [false], both: [false, true] };
const metricsModes = METRICS[values.metrics ?? "on"];
if (!metricsModes) {
  console.error(`--metrics ${JSON.stringify(values.metrics)}: use on, off or both`);
  process.exit(2);
}

const children: ChildProcess[] = [];
const fleets: FleetProcess[] = [];
const members: EtcdMember[] = [];
const root = mkdtempSync(join(tmpdir(), "yard-bench-"));
const token = "bench-token";

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  // Synchronous on purpose (it also runs on exit): etcd members by their pid.
  for (const m of members) {
    try {
      if (m.pid) process.kill(m.pid, "SIGKILL");
    } catch {
      // already gone
    }
    rmSync(m.dataDir, { recursive: true, force: true });
  }
  rmSync(root, { recursive: true, force: true });
}
process.on("exit", cleanup);

async function metrics(httpPort: number, secure: boolean): Promise<Map<string, number>> {
  const url = `${secure ? "https" : "http"}://127.0.0.1:${httpPort}/metrics`;
  const init = {
    headers: { authorization: `Bearer ${token}` },
    ...(secure ? { dispatcher: await clusterDispatcher(tlsMaterial("admin")) } : {}),
  };
  const text = await (await fetch(url, init as RequestInit)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function main(): Promise<void> {
  console.log(
    `scheduler benchmark: ${N} agents (in ${PROCS} fleet process(es), null executor), ${M} frameworks, ${T} tasks of cpus:${TASK.cpus};mem:${TASK.mem}`,
  );

  // The limit: the allocator alone, in this process, on the same shape of cluster.
  const alone = await benchAllocator({
    agents: N,
    frameworks: M,
    tasks: T,
    taskResources: parseResources(`cpus:${TASK.cpus};mem:${TASK.mem}`),
  });
  console.log(
    `allocator in-process: ${alone.placementsPerSecond.toFixed(0)} placements/s, cycle p50 ${alone.cycleP50Ms.toFixed(2)} ms p99 ${alone.cycleP99Ms.toFixed(2)} ms`,
  );
  const results: { secure: boolean; store: StoreKind; metrics: boolean; e2e: number }[] = [];
  for (const store of stores!) {
    for (const secure of modes!) {
      for (const metrics of metricsModes!) {
        console.log(
          `\n--- transport: ${secure ? "mTLS" : "insecure (plaintext)"}, registry: ${store}, metrics recording: ${metrics ? "on" : "off"}`,
        );
        results.push({
          secure,
          store,
          metrics,
          e2e: await runOnce(secure, store, alone.placementsPerSecond, metrics),
        });
      }
    }
  }
  const find = (store: StoreKind, secure: boolean, metrics = metricsModes!.at(-1)!) =>
    results.find((r) => r.store === store && r.secure === secure && r.metrics === metrics);
  for (const store of stores!) {
    for (const secure of modes!) {
      const off = find(store, secure, false);
      const on = find(store, secure, true);
      if (!off || !on) continue;
      console.log(
        `metrics cost (${store}, ${secure ? "mTLS" : "plaintext"}): ${on.e2e.toFixed(0)} /s recording vs ${off.e2e.toFixed(0)} /s not: ratio on/off ${(on.e2e / off.e2e).toFixed(3)} (target >= 0.95)`,
      );
    }
  }
  console.log("");
  for (const store of stores!) {
    const plain = find(store, false);
    const tls = find(store, true);
    if (!plain || !tls) continue;
    console.log(
      `TLS cost (${store}): ${tls.e2e.toFixed(0)} /s with mTLS vs ${plain.e2e.toFixed(0)} /s plaintext (${((1 - tls.e2e / plain.e2e) * 100).toFixed(1)} % fewer placements/s)`,
    );
  }
  for (const secure of modes!) {
    const sqlite = find("sqlite", secure);
    const etcd = find("etcd", secure);
    if (!sqlite || !etcd) continue;
    console.log(
      `etcd registry (${secure ? "mTLS" : "plaintext"}): ${etcd.e2e.toFixed(0)} /s vs SQLite ${sqlite.e2e.toFixed(0)} /s: ratio etcd/sqlite ${(etcd.e2e / sqlite.e2e).toFixed(3)} (target >= 0.5)`,
    );
  }
  cleanup();
  process.exit(0);
}

/**
 * One whole run (master, fleet, frameworks) over mTLS or plaintext, with the registry in
 * SQLite or in a fresh etcd member; returns placements/s end to end.
 */
async function runOnce(
  secure: boolean,
  store: StoreKind,
  allocatorAlone: number,
  metricsRecording: boolean,
): Promise<number> {
  const alone = { placementsPerSecond: allocatorAlone };
  const runRoot = join(
    root,
    `${secure ? "tls" : "insecure"}-${store}-metrics-${metricsRecording ? "on" : "off"}`,
  );
  let member: EtcdMember | undefined;
  if (store === "etcd") {
    member = await startEtcd();
    members.push(member);
  }
  // One master on etcd: it campaigns alone, leads at once, and every registry write is a
  // fenced etcd txn (the HA path, without a standby).
  const etcdArgs = member ? ["--etcd", member.endpoint, "--etcd-prefix", "/bench"] : [];
  const masterDir = join(runRoot, "master");
  const profile = values["profile-dir"] ? ["--cpu-prof", "--cpu-prof-dir", values["profile-dir"]] : [];
  const master = spawn(
    process.execPath,
    [
      ...profile,
      yardctl,
      "master",
      "--data-dir",
      masterDir,
      "--port",
      "0",
      "--http-port",
      "0",
      "--agent-timeout",
      "60",
      "--metrics-recording",
      String(metricsRecording),
      ...(secure ? [] : ["--insecure"]),
      ...etcdArgs,
    ],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, ...(secure ? tlsEnv() : {}), YARD_LOG_LEVEL: "warn", YARD_TOKEN: token },
    },
  );
  children.push(master);
  const discovery = join(masterDir, "master", "master.json");
  while (!existsSync(discovery)) await new Promise((r) => setTimeout(r, 50));
  const { grpcPort, httpPort } = JSON.parse(readFileSync(discovery, "utf8"));
  const address = `127.0.0.1:${grpcPort}`;
  // On etcd the master serves once it has won its election.
  for (;;) {
    const ready = await metrics(httpPort, secure).catch(() => undefined);
    if (ready?.has("yard_master_rss_bytes")) break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const regStart = performance.now();
  const perProc = Math.ceil(N / PROCS);
  const starting = [];
  for (let p = 0; p < PROCS; p++) {
    const count = Math.min(perProc, N - p * perProc);
    starting.push(
      spawnFleet({
        master: address,
        token,
        dir: join(runRoot, `fleet-${p}`),
        tlsDir: secure ? testTlsDir() : undefined,
        count,
        first: p * perProc,
        executor: "null",
        cpus: 32,
        mem: 65536,
        disk: 100_000,
        firstPort: 31000,
        portsPerAgent: 1001,
        portStride: 0,
        zones: 4,
      }).then((f) => {
        fleets.push(f);
        children.push(f.child);
        return f;
      }),
    );
  }
  const fleetRssMiB = (await Promise.all(starting)).reduce((sum, f) => sum + f.rssMiB, 0);
  const registrationSeconds = (performance.now() - regStart) / 1000;
  const afterReg = await metrics(httpPort, secure);
  const agentsRegistered = afterReg.get('yard_agents{status="ACTIVE"}') ?? 0;
  console.log(`agents registered: ${agentsRegistered} in ${registrationSeconds.toFixed(1)} s`);

  // Frameworks: each places T/M tasks, as many per offer as fit.
  const running = new Set<string>();
  let placed = 0;
  let firstAccept = 0;
  let lastRunning = 0;
  const perFramework = Math.ceil(T / M);
  const drivers: SchedulerDriver[] = [];
  const done = new Promise<void>((resolveDone) => {
    for (let f = 0; f < M; f++) {
      const driver = new SchedulerDriver({
        ...(secure ? tlsOf("framework") : { insecure: true }),
        master: address,
        token,
        framework: { name: `bench-${f}` },
        callDeadlineMs: 120_000,
      });
      let launched = 0;
      // Answers every offer of the event at once: the calls overlap instead of queueing.
      driver.on("offers", async ({ offers }) => {
        await Promise.all(
          offers.map(async (offer) => {
            const want = Math.min(perFramework - launched, 64);
            if (want <= 0) {
              await driver.decline([offer.id], { refuseSeconds: 3600 }).catch(() => undefined);
              return;
            }
            const r = takeTasks(
              offer,
              Array.from({ length: want }, () => TASK),
            );
            if (r.placed.length === 0) {
              await driver.decline([offer.id], { refuseSeconds: 1 }).catch(() => undefined);
              return;
            }
            const first = launched;
            const tasks = r.placed.map((p) =>
              taskInfo({
                taskId: `f${f}-t${first + p.index}`,
                command: "true",
                cpus: p.resources.cpus,
                mem: p.resources.mem,
              }),
            );
            launched += tasks.length;
            if (!firstAccept) firstAccept = performance.now();
            try {
              await driver.launch(offer, tasks, { refuseSeconds: 0 });
              placed += tasks.length;
            } catch (err) {
              console.error(`accept failed: ${(err as Error).message}`);
            }
          }),
        );
      });
      driver.on("update", ({ status }) => {
        if (status.state !== TaskState.TASK_RUNNING || running.has(status.taskId)) return;
        running.add(status.taskId);
        if (running.size === T) {
          lastRunning = performance.now();
          resolveDone();
        }
      });
      drivers.push(driver);
    }
  });
  await Promise.all(drivers.map((d) => d.start()));
  const timeout = setTimeout(() => {
    console.error(`timed out: ${running.size} of ${T} running, ${placed} placed`);
    process.exit(1);
  }, 600_000);
  await done;
  clearTimeout(timeout);
  const seconds = (lastRunning - firstAccept) / 1000;
  const e2e = T / seconds;
  const m = await metrics(httpPort, secure);
  const rssMiB = (m.get("yard_master_rss_bytes") ?? 0) / 2 ** 20;
  const p50 = m.get('yard_allocation_cycle_ms{kind="full",quantile="0.5"}') ?? Number.NaN;
  const p99 = m.get('yard_allocation_cycle_ms{kind="full",quantile="0.99"}') ?? Number.NaN;
  const ip99 = m.get('yard_allocation_cycle_ms{kind="immediate",quantile="0.99"}') ?? Number.NaN;
  console.log("");
  console.log(`agents registered:          ${agentsRegistered} (${registrationSeconds.toFixed(1)} s)`);
  console.log(
    `placements end to end:      ${e2e.toFixed(0)} /s (${T} tasks, Accept to RUNNING, ${seconds.toFixed(2)} s)`,
  );
  console.log(
    `allocation cycle (master):  full p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms; immediate p99 ${ip99.toFixed(2)} ms`,
  );
  console.log(`master RSS:                 ${rssMiB.toFixed(0)} MiB`);
  console.log(
    `agent fleet RSS:            ${fleetRssMiB.toFixed(0)} MiB at registration (${((fleetRssMiB * 1024) / N).toFixed(0)} KiB per agent)`,
  );
  console.log(`allocator alone:            ${alone.placementsPerSecond.toFixed(0)} /s`);
  console.log(`ratio end-to-end/allocator: ${(e2e / alone.placementsPerSecond).toFixed(3)}`);
  await Promise.all(drivers.map((d) => d.stop()));
  // SIGINT lets the master write its CPU profile before it exits.
  master.kill("SIGINT");
  await new Promise((r) => master.once("exit", r));
  await Promise.all(fleets.splice(0).map(stopFleet));
  if (member) {
    await member.destroy();
    members.splice(members.indexOf(member), 1);
  }
  return e2e;
}

main().catch((err) => {
  console.error(err);
  cleanup();
  process.exit(1);
});
