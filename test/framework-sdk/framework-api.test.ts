import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { listenForFrameworkApi, SdkArgumentError } from "../../framework-sdk/index.js";
import { tlsOf } from "../tls-fixture.js";

describe("listenForFrameworkApi", () => {
  test("binds a free port on 127.0.0.1 and gives the endpoint to advertise", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "yard-api-")), "state");
    try {
      const { server, endpoint } = await listenForFrameworkApi({
        ...tlsOf("framework"),
        master: "127.0.0.1:7070",
        dataDir,
      });
      assert.match(endpoint, /^127\.0\.0\.1:\d+$/);
      assert.notEqual(endpoint, "127.0.0.1:0");
      server.forceShutdown();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("neither TLS material nor insecure: true is refused, no silent plaintext", async () => {
    await assert.rejects(
      listenForFrameworkApi({ master: "127.0.0.1:7070", dataDir: "/tmp/x" }),
      (err: unknown) =>
        err instanceof SdkArgumentError && err.field === "tls" && /yardctl certs init/.test(err.message),
    );
  });

  test("bad options are refused naming the field and the value", async () => {
    await assert.rejects(
      listenForFrameworkApi({ master: "", dataDir: "/tmp/x" }),
      (err: unknown) => err instanceof SdkArgumentError && err.field === "master",
    );
    await assert.rejects(
      listenForFrameworkApi({ master: "127.0.0.1:7070", dataDir: "/tmp/x", port: 70000 }),
      /port: 70000 is not a port number/,
    );
  });
});
