import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseResources as r } from "../../../common/resources.js";
import { DrfSorter, SorterTotals } from "../../../master/allocator/drf-sorter.js";

describe("DrfSorter", () => {
  test("dominant share is the largest of allocated/total over the scalars", () => {
    const s = new DrfSorter();
    s.addTotal("a1", r("cpus:10;mem:100;disk:1000"));
    s.add("f");
    s.allocated("f", "a1", r("cpus:1;mem:50;disk:100"));
    assert.equal(s.dominantShare("f"), 0.5);
    s.unallocated("f", "a1", r("mem:50"));
    assert.equal(s.dominantShare("f"), 0.1);
    assert.deepEqual(s.allocation("f"), r("cpus:1;disk:100"));
  });

  test("sorts by share ascending, then allocation count, then name", () => {
    const s = new DrfSorter();
    s.addTotal("a1", r("cpus:100;mem:1000"));
    for (const c of ["c", "b", "a", "d"]) s.add(c);
    assert.deepEqual(s.sort(), ["a", "b", "c", "d"]);
    s.allocated("a", "a1", r("cpus:10"));
    assert.deepEqual(s.sort(), ["b", "c", "d", "a"]);
    // b: same share as c and d once allocated, but two allocations instead of one.
    s.allocated("b", "a1", r("cpus:1"));
    s.allocated("b", "a1", r("cpus:1"));
    s.allocated("c", "a1", r("cpus:2"));
    s.allocated("d", "a1", r("mem:20"));
    assert.deepEqual(s.sort(), ["c", "d", "b", "a"]);
  });

  test("weights divide the share: weight 2 sorts ahead at twice the share", () => {
    const s = new DrfSorter();
    s.addTotal("a1", r("cpus:10;mem:10"));
    s.add("heavy", 2);
    s.add("light");
    s.allocated("heavy", "a1", r("cpus:3"));
    s.allocated("light", "a1", r("cpus:2"));
    assert.deepEqual(s.sort(), ["heavy", "light"]); // 0.3/2 = 0.15 < 0.2
    s.setWeight("heavy", 1);
    assert.deepEqual(s.sort(), ["light", "heavy"]);
  });

  test("inactive clients keep their shares but are not sorted", () => {
    const s = new DrfSorter();
    s.addTotal("a1", r("cpus:4;mem:4"));
    s.add("x");
    s.add("y");
    s.allocated("x", "a1", r("cpus:1"));
    s.deactivate("x");
    assert.deepEqual(s.sort(), ["y"]);
    assert.equal(s.dominantShare("x"), 0.25);
    s.activate("x");
    assert.deepEqual(s.sort(), ["y", "x"]);
    s.remove("y");
    assert.deepEqual(s.sort(), ["x"]);
  });

  test("totals changes re-rank everybody; shared totals serve several sorters", () => {
    const totals = new SorterTotals();
    const a = new DrfSorter({ totals });
    const b = new DrfSorter({ totals });
    a.addTotal("a1", r("cpus:10;mem:10"));
    a.add("f");
    b.add("g");
    a.allocated("f", "a1", r("cpus:5"));
    b.allocated("g", "a1", r("mem:2"));
    assert.equal(a.dominantShare("f"), 0.5);
    assert.equal(b.dominantShare("g"), 0.2);
    b.addTotal("a2", r("cpus:10;mem:10"));
    assert.equal(a.dominantShare("f"), 0.25);
    assert.equal(b.dominantShare("g"), 0.1);
    a.removeTotal("a2", r("cpus:10;mem:10"));
    assert.equal(a.dominantShare("f"), 0.5);
  });

  test("the in-place order stays right across many small changes", () => {
    const s = new DrfSorter();
    s.addTotal("a1", r("cpus:1000;mem:1000"));
    const names = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"];
    for (const n of names) s.add(n);
    let seed = 7;
    for (let k = 0; k < 200; k++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const n = names[seed % names.length]!;
      if (seed % 3 === 0) s.unallocated(n, "a1", r("cpus:1"));
      else s.allocated(n, "a1", r(`cpus:${1 + (seed % 5)}`));
      const got = s.sort();
      const shares = got.map((g) => s.dominantShare(g));
      assert.deepEqual(
        shares,
        [...shares].sort((p, q) => p - q),
        `step ${k}: ${got.join(",")}`,
      );
      assert.deepEqual([...got].sort(), names);
    }
  });

  test("rejects a weight that is not positive, naming the client and value", () => {
    const s = new DrfSorter();
    assert.throws(() => s.add("f", 0), /weight of "f": 0 is not a positive number/);
    s.add("g");
    assert.throws(() => s.setWeight("g", Number.NaN), /weight of "g": NaN/);
  });
});
