// PendingTally: the framework's half of "why pending", aggregated per unit and reason.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseResources as r } from "../../common/resources.js";
import { PendingTally, shortResource } from "../../framework-sdk/pending-tally.js";

describe("PendingTally", () => {
  test("the first short resource, with the same tolerance as the resource math", () => {
    assert.deepEqual(shortResource(r("cpus:2;mem:1024"), { cpus: 4, mem: 64 }), {
      code: "insufficient_cpus",
      resource: "cpus",
      need: 4,
      had: 2,
    });
    assert.equal(shortResource(r("cpus:2;mem:1024"), { cpus: 4, mem: 4096 })!.code, "insufficient_cpus");
    assert.equal(shortResource(r("cpus:8;mem:32"), { cpus: 1, mem: 64 })!.code, "insufficient_mem");
    assert.equal(
      shortResource(r("cpus:8;mem:1024;ports:[31000-31000]"), { cpus: 1, mem: 64, ports: 2 })!.code,
      "insufficient_ports",
    );
    assert.equal(shortResource(r("cpus:0.3;mem:64"), { cpus: 0.1 + 0.2, mem: 64 }), undefined);
  });

  test("reasons per unit, counted per offer, the largest offer kept, most offers first", () => {
    const t = new PendingTally();
    t.tooSmall("app", "web", r("cpus:1;mem:512"), { cpus: 8, mem: 64 });
    t.tooSmall("app", "web", r("cpus:2;mem:512"), { cpus: 8, mem: 64 });
    t.misfit("app", "web", "constraint", 'hostname "h3" already runs an instance (UNIQUE)');
    t.tooSmall("app", "web", r("cpus:16;mem:512"), { cpus: 8, mem: 64 }); // fits: not counted
    t.misfit("app", "other", "executor", "needs the docker executor");
    const [web, idle] = t.work([
      { kind: "app", name: "web", waiting: 3, since: 100, taskIds: ["t1"] },
      {
        kind: "job",
        name: "j1",
        waiting: 1,
        since: 50,
        reasons: [{ code: "backed_off", detail: "retry at noon" }],
      },
    ]);
    assert.deepEqual(web!.reasons, [
      { code: "insufficient_cpus", offers: 2, detail: "needs 8 cpus; the largest offer had 2" },
      { code: "constraint", offers: 1, detail: 'hostname "h3" already runs an instance (UNIQUE)' },
    ]);
    assert.equal(web!.waiting, 3);
    assert.deepEqual(web!.taskIds, ["t1"]);
    assert.deepEqual(idle!.reasons, [{ code: "backed_off", offers: 0, detail: "retry at noon" }]);
  });

  test("a unit that does not wait is not reported, whatever was tallied for it", () => {
    const t = new PendingTally();
    t.misfit("app", "gone", "executor", "needs the docker executor");
    assert.deepEqual(t.work([]), []);
  });
});
