// The controller's side of the staging waves: a step launches only once its wave holds the
// release, and the next step's wave starts as soon as the current step may go on. A real
// AppBook on SQLite; the effects are recorded as the scheduler would carry them out.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { silentLogger } from "../../../framework-sdk/index.js";
import { AppBook } from "../../../frameworks/service/app-book.js";
import { AppController } from "../../../frameworks/service/app-controller.js";
import { parseAppSpec } from "../../../frameworks/service/app-spec.js";
import type { DeploymentRecord, WaveRecord } from "../../../frameworks/service/service-state.js";
import { SqliteServiceStore } from "../../../frameworks/service/sqlite-service-store.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-wave-gate-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const SPEC = (v: number) =>
  parseAppSpec(
    `name: web\nrelease: web@${v}\ncommand: x\ninstances: 4\n` +
      "rollout: { steps: [1, 2, 4], max_surge: 4, max_unavailable: 0, min_healthy_time: 5 }\n",
  );

function wave(step: number, state: WaveRecord["state"]): WaveRecord {
  return {
    step,
    through: step,
    state,
    agents: [
      {
        agentId: `a${step}`,
        hostname: `h${step}`,
        state: state === "DONE" ? "DONE" : "FETCHING",
        downloaded: 0,
        size: 1,
        error: "",
      },
    ],
    startedAt: 0,
    doneAt: 0,
    doneInStep: 0,
    doneAfterStepDone: false,
    waited: false,
  };
}

/** An app at revision 2 mid-deployment, with `ready` v2 instances ready and 4 v1 ones healthy. */
function setup(name: string, step: number, ready: number, waves: WaveRecord[]) {
  const store = new SqliteServiceStore(path.join(dir, `${name}.db`));
  const book = new AppBook(store);
  const d1 = book.newRevision(SPEC(1), "", "deploy", 1);
  d1.state = "SUCCEEDED";
  const dep = book.newRevision(SPEC(2), "", "deploy", 2);
  Object.assign(dep, {
    state: "RUNNING",
    stagingComplete: true,
    step,
    waves,
  } satisfies Partial<DeploymentRecord>);
  let n = 0;
  const add = (revision: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const l = book.fresh({
        taskId: `t${n++}`,
        app: "web",
        revision,
        agentId: "a0",
        hostname: "h0",
        port: 0,
        state: 1,
        launchedAt: n,
        message: "",
        stopping: false,
      });
      l.health = "healthy";
      l.healthySince = 0;
      book.live.set(l.rec.taskId, l);
    }
  };
  add(1, 4 - ready);
  add(2, ready);
  const fx = { wants: [] as number[], staged: [] as number[] };
  const controller = new AppController(book, silentLogger, {
    want: (_app, _rev, count) => fx.wants.push(count),
    stop: () => {},
    stage: () => {},
    stageWave: (_app, _dep, s) => {
      fx.staged.push(s);
      if (!dep.waves!.some((w) => w.step === s)) dep.waves!.push(wave(s, "STAGING"));
    },
    remove: () => {},
    kick: () => {},
    wakeAt: () => {},
  });
  return { book, dep, fx, store, tick: () => controller.reconcileApp(book.apps.get("web")!, 100) };
}

describe("AppController and the staging waves", () => {
  test("step 1 runs: its instance is wanted and the wave of step 2 starts", () => {
    const { fx, tick, store } = setup("a", 0, 0, [wave(0, "DONE")]);
    tick();
    assert.deepEqual(fx.wants, [1]);
    assert.deepEqual(fx.staged, [1]);
    store.close();
  });

  test("step 2 is due but its wave still stages: it holds at step 1's target and records the wait", () => {
    const { fx, tick, dep, store } = setup("b", 1, 1, [wave(0, "DONE"), wave(1, "STAGING")]);
    tick();
    assert.deepEqual(fx.wants, [], "nothing launched for step 2");
    assert.equal(dep.step, 1);
    assert.equal(dep.waves![1]!.waited, true);
    assert.match(dep.message, /step 2 waits for its agents to hold the release/);
    store.close();
  });

  test("once the wave holds the release, step 2 launches and step 3's wave starts", () => {
    const { fx, tick, dep, store } = setup("c", 1, 1, [wave(0, "DONE"), wave(1, "DONE")]);
    tick();
    assert.deepEqual(fx.wants, [1]);
    assert.deepEqual(fx.staged, [2]);
    assert.equal(dep.waves![1]!.waited, false);
    store.close();
  });

  test("a rollback stages nothing and waits for no wave", () => {
    const { fx, tick, dep, store } = setup("d", 1, 1, [wave(0, "DONE"), wave(1, "STAGING")]);
    dep.rollingBack = true;
    dep.state = "ROLLING_BACK";
    tick();
    assert.deepEqual(fx.staged, []);
    store.close();
  });
});
