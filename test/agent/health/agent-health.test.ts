// Health checks run by a real agent (AgentDaemon against the test master): http, tcp and
// command checks flip a task's health, the agent sends exactly one update per change of
// verdict (same state, new uuid, health filled) and none for the checks in between, every
// later status (the terminal one too) carries the latest health, and a
// restarted agent resumes them without a redundant update.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { type AgentHandle, startAgent } from "../../../agent/agent-daemon.js";
import { taskName } from "../../../agent/agent-task.js";
import { sandboxDir } from "../../../agent/task-env.js";
import { silentLogger } from "../../../common/logger.js";
import { HealthCheck, HealthState, TaskState, type TaskStatus } from "../../../proto/gen/yard/v1/common.js";
import { shellTask, tempDir, waitFor } from "../helpers.js";
import { TestMaster } from "../test-master.js";
import { tlsOf } from "../../tls-fixture.js";

const FW = "fw-1";

// Listens on PORT0 while no file `down` is in its sandbox, closes its listener while there
// is one; appends a line to `hits` for each request or connection.
const SERVER = [
  "const fs=require('fs'),net=require('net');",
  "const s=net.createServer((c)=>{c.on('error',()=>{});fs.appendFileSync('hits','x');c.end('HTTP/1.1 200 OK'+String.fromCharCode(13,10,13,10))});",
  "let up=false;",
  "setInterval(()=>{const d=fs.existsSync('down');",
  "if(d&&up){s.close();up=false}else if(!d&&!up){s.listen(+process.env.PORT0,'127.0.0.1');up=true}},30);",
].join("");

function serverTask(taskId: string, port: number, check: Partial<HealthCheck>) {
  return shellTask(taskId, `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(SERVER)}`, {
    resources: { cpus: 0.1, mem: 64, disk: 0, ports: [{ begin: port, end: port }] },
    healthCheck: HealthCheck.fromPartial({
      intervalSeconds: 0.1,
      timeoutSeconds: 5, // generous: a loaded machine must not fail a check that should pass
      // The server takes a moment to listen: failures before its first pass do not count.
      gracePeriodSeconds: 30,
      failures: 2,
      ...check,
    }),
  });
}

const h = (s: TaskStatus) => [TaskState[s.state], s.health ? HealthState[s.health.state] : "none"];

describe("agent-run health checks", () => {
  const dirs: string[] = [];
  const agents: AgentHandle[] = [];
  const masters: TestMaster[] = [];
  after(async () => {
    for (const a of agents) await a.stop({ killTasks: true }).catch(() => undefined);
    for (const m of masters) await m.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function setup(ports: { begin: number; end: number }) {
    const master = new TestMaster();
    await master.start();
    masters.push(master);
    const dataDir = tempDir("agent-health");
    dirs.push(dataDir);
    const start = async () => {
      const a = await startAgent({
        ...tlsOf("agent"),
        master: master.address,
        dataDir,
        cpus: 2,
        mem: 512,
        disk: 1024,
        ports: [ports],
        statusRetryMs: 200,
        killGraceMs: 2000,
        logger: silentLogger,
      });
      agents.push(a);
      return a;
    };
    /** Distinct updates of a task, in the order first sent; each acked as it is seen. */
    const updates = (taskId: string): TaskStatus[] => {
      const seen = new Map<string, TaskStatus>();
      for (const m of master.all("status")) {
        const s = m.status!;
        if (s.taskId === taskId && !seen.has(s.uuid)) seen.set(s.uuid, s);
      }
      const list = [...seen.values()];
      const live = master.streams.filter((s) => !s.ended).pop();
      for (const s of list) live?.call.write({ ack: { taskId, uuid: s.uuid, frameworkId: FW } });
      return list;
    };
    const untilUpdates = (taskId: string, n: number) =>
      waitFor(
        `${n} updates of ${taskId}`,
        () => (updates(taskId).length >= n ? updates(taskId) : undefined),
        15_000,
      );
    const sandboxFile = (taskId: string, name: string) =>
      path.join(sandboxDir(dataDir, taskName(FW, taskId)), name);
    const hits = (taskId: string) => {
      try {
        return fs.readFileSync(sandboxFile(taskId, "hits"), "utf8").length;
      } catch {
        return 0;
      }
    };
    /** A positive signal that checks ran: `n` more probes reached the task. */
    const moreHits = async (taskId: string, n: number) => {
      const from = hits(taskId);
      await waitFor(`${n} more checks of ${taskId}`, () => hits(taskId) >= from + n || undefined, 15_000);
    };
    return { master, dataDir, start, updates, untilUpdates, sandboxFile, hits, moreHits };
  }

  for (const kind of ["http", "tcp"] as const) {
    test(`${kind}: unknown, healthy, unhealthy, healthy again, killed: one update per change`, async () => {
      const port = kind === "http" ? 31_411 : 31_412;
      const c = await setup({ begin: port, end: port });
      await c.start();
      const s = await c.master.waitStreams(1);
      const id = `hc-${kind}`;
      const check = kind === "http" ? { kind, httpPath: "/ready" } : { kind };
      s.call.write({ runTask: { user: "", frameworkId: FW, task: serverTask(id, port, check) } });

      await c.untilUpdates(id, 2);
      await c.moreHits(id, 5); // checks that passed and sent nothing
      fs.writeFileSync(c.sandboxFile(id, "down"), "");
      await c.untilUpdates(id, 3);
      fs.rmSync(c.sandboxFile(id, "down"));
      await c.untilUpdates(id, 4);
      await c.moreHits(id, 5);
      s.call.write({ killTask: { taskId: id, frameworkId: FW, graceSeconds: 1 } });
      const all = await c.untilUpdates(id, 5);

      assert.deepEqual(all.map(h), [
        ["TASK_RUNNING", "HEALTH_UNKNOWN"],
        ["TASK_RUNNING", "HEALTH_HEALTHY"],
        ["TASK_RUNNING", "HEALTH_UNHEALTHY"],
        ["TASK_RUNNING", "HEALTH_HEALTHY"],
        ["TASK_KILLED", "HEALTH_HEALTHY"],
      ]);
      const unhealthy = all[2]!;
      assert.equal(unhealthy.health!.consecutiveFailures, 2);
      assert.ok(unhealthy.health!.lastCheck > all[1]!.health!.lastCheck);
      assert.match(unhealthy.message, /^unhealthy after 2 failed check\(s\): .*(ECONNREFUSED|refused)/);
      assert.equal(all[3]!.message, "");
    });
  }

  test("command: runs in the task's sandbox with its environment; a restarted agent resumes checks without a redundant update", async () => {
    const port = 31_413;
    const c = await setup({ begin: port, end: port });
    const first = await c.start();
    const s = await c.master.waitStreams(1);
    const id = "hc-cmd";
    // The check proves where it runs: it appends to `hits` in the working dir (the sandbox),
    // and passes only with the task's PORT0 and YARD_TASK_ID and without a file `down`.
    const command = `printf x >> hits; test "$PORT0" = ${port} && test "$YARD_TASK_ID" = ${id} && test ! -e down`;
    s.call.write({
      runTask: {
        user: "",
        frameworkId: FW,
        task: shellTask(id, "sleep 600", {
          resources: { cpus: 0.1, mem: 64, disk: 0, ports: [{ begin: port, end: port }] },
          healthCheck: HealthCheck.fromPartial({
            kind: "command",
            command,
            intervalSeconds: 0.1,
            timeoutSeconds: 5,
            failures: 2,
          }),
        }),
      },
    });
    await c.untilUpdates(id, 2);
    assert.deepEqual(c.updates(id).map(h), [
      ["TASK_RUNNING", "HEALTH_UNKNOWN"],
      ["TASK_RUNNING", "HEALTH_HEALTHY"],
    ]);
    await c.moreHits(id, 3);

    await first.stop(); // the task keeps running
    await c.start();
    await c.master.waitStreams(2);
    await c.moreHits(id, 5); // the new agent checks it again
    assert.equal(c.updates(id).length, 2, "the same verdict after a restart is no update");

    fs.writeFileSync(c.sandboxFile(id, "down"), "");
    const all = await c.untilUpdates(id, 3);
    assert.deepEqual(h(all[2]!), ["TASK_RUNNING", "HEALTH_UNHEALTHY"]);
    assert.match(all[2]!.health!.message, /^exit 1/);
    assert.equal(all[2]!.health!.consecutiveFailures, 2);
  });

  test("a check the agent cannot run leaves the health unknown with the reason; the task runs", async () => {
    const c = await setup({ begin: 31_414, end: 31_414 });
    await c.start();
    const s = await c.master.waitStreams(1);
    const id = "hc-bad";
    s.call.write({
      runTask: {
        user: "",
        frameworkId: FW,
        task: shellTask(id, "sleep 600", {
          resources: { cpus: 0.1, mem: 64, disk: 0, ports: [] },
          healthCheck: HealthCheck.fromPartial({ kind: "tcp", portIndex: 3 }),
        }),
      },
    });
    const [running] = await c.untilUpdates(id, 1);
    assert.deepEqual(h(running!), ["TASK_RUNNING", "HEALTH_UNKNOWN"]);
    assert.match(running!.health!.message, /port_index: 3 but the task has 0 port/);
  });
});
