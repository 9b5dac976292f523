// The docker suites that need a real engine. One file, so that without an engine (outside
// CI) they are skipped with one line; under CI=true a missing engine fails them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { dockerClusterSuite } from "./cluster-suite.js";
import { findTestEngine, skipUnlessEngine } from "./engine.js";
import { dockerExecutorSuite } from "./executor-suite.js";

const engine = await findTestEngine();

describe("docker (real engine)", { skip: skipUnlessEngine(engine) }, () => {
  test("a Docker engine with the test image answers", () => {
    assert.equal(engine.missing, undefined, engine.missing);
  });
  if (engine.missing) return;
  dockerExecutorSuite(engine);
  dockerClusterSuite(engine);
});
