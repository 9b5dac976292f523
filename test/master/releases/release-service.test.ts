// The release store through its gRPC API on a real in-process master: pushes, the tracker's
// filter, releases on launches and offers, removal while in use, and staging on agents that
// are raw AgentService streams driven by the test.
import assert from "node:assert/strict";
import { get } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { ReleaseClient } from "../../../cli/commands/release.js";
import { CHANNEL_OPTIONS, unary } from "../../../common/grpc.js";
import { authMetadata } from "../../../common/auth.js";
import type { MasterHandle } from "../../../master/master-daemon.js";
import { TaskState } from "../../../proto/gen/yard/v1/common.js";
import type { StageStatus } from "../../../proto/gen/yard/v1/release.js";
import {
  type Event,
  Event_Type,
  Operation_Type,
  SchedulerServiceClient,
} from "../../../proto/gen/yard/v1/scheduler.js";
import { pushFile, RawAgent, randomFile, removeDir, startTestMaster, tempDir, waitFor } from "./helpers.js";
import { frameworkCredentials, tlsMaterial, tlsOf } from "../../tls-fixture.js";

function grpcCode(err: unknown): number | undefined {
  return (err as { cause?: { code?: number } }).cause?.code;
}

/** GET on the master's HTTPS port, as an agent; resolves the body as latin1 (bencode is bytes). */
/** A GET on the master's HTTPS port; with an agent's certificate unless `creds` says otherwise. */
function httpGet(
  port: number,
  path: string,
  creds: { ca: Buffer; cert?: Buffer; key?: Buffer } = tlsMaterial("agent"),
): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, ...creds }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    }).on("error", reject);
  });
}

function announcePath(infoHashHex: string, port = 6881): string {
  const esc = (hex: string) => hex.replace(/../g, "%$&");
  const peerId = Buffer.from("-YT0001-abcdefghijkl").toString("hex");
  return `/announce?info_hash=${esc(infoHashHex)}&peer_id=${esc(peerId)}&port=${port}&uploaded=0&downloaded=0&left=100&compact=1`;
}

describe("release service", () => {
  const dir = tempDir("release-service");
  let master: MasterHandle;
  let client: ReleaseClient;
  const web = randomFile(dir, "web.bin", 300_000);
  const other = randomFile(dir, "other.bin", 300_000);

  before(async () => {
    master = await startTestMaster(join(dir, "master"));
    client = new ReleaseClient({ address: master.address, ...tlsOf("admin") });
  });
  after(async () => {
    client.close();
    await master.stop();
    removeDir(dir);
  });

  test("a push stores the release; the same bytes again are a no-op; other bytes are refused", async () => {
    const first = await pushFile(client, "web@1.0", web.path, 300_000);
    assert.equal(first.unchanged, false);
    assert.equal(first.release?.sha256, web.sha256);
    assert.equal(first.release?.size, 300_000);
    assert.equal(first.release?.fileName, "app.bin");
    assert.match(first.release?.infoHash ?? "", /^[0-9a-f]{40}$/);

    const again = await pushFile(client, "web@1.0", web.path, 300_000);
    assert.equal(again.unchanged, true);
    assert.deepEqual(again.release, first.release);

    await assert.rejects(pushFile(client, "web@1.0", other.path, 300_000), (err: Error) => {
      assert.equal(grpcCode(err), GrpcStatus.ALREADY_EXISTS);
      assert.match(err.message, /release web@1\.0 already exists with other bytes/);
      return true;
    });
    const list = await client.list();
    assert.deepEqual(
      list.releases.map((r) => [`${r.name}@${r.version}`, r.sha256]),
      [["web@1.0", web.sha256]],
    );
    const status = await client.status("web@1.0");
    assert.equal(status.seeded, true);
  });

  test("bad pushes are refused with the field named", async () => {
    await assert.rejects(pushFile(client, "bad name@1", web.path, 300_000), (err: Error) => {
      assert.equal(grpcCode(err), GrpcStatus.INVALID_ARGUMENT);
      assert.match(err.message, /^header\.name: "bad name" is not a release name/);
      return true;
    });
    await assert.rejects(pushFile(client, "web@2.0", web.path, 12), (err: Error) => {
      assert.equal(grpcCode(err), GrpcStatus.INVALID_ARGUMENT);
      assert.match(err.message, /^header\.size: 12 bytes announced, more were sent/);
      return true;
    });
    await assert.rejects(client.status("nope@1"), (err: Error) => {
      assert.equal(grpcCode(err), GrpcStatus.NOT_FOUND);
      assert.match(err.message, /release nope@1 not found/);
      return true;
    });
  });

  test("the tracker refuses unknown info hashes, and announces without a member's passkey; tracks releases", async () => {
    const unknown = await httpGet(master.httpPort, announcePath("0123456789abcdef0123456789abcdef01234567"));
    assert.match(unknown, /failure reason/);
    assert.match(
      unknown,
      /info hash 0123456789abcdef0123456789abcdef01234567 is not a release of this Yard master/,
    );
    const { release } = await client.status("web@1.0");
    // Without a member's certificate (a client that only trusts the CA) or passkey: refused.
    const outsider = { ca: tlsMaterial("agent").ca };
    const anonymous = await httpGet(master.httpPort, announcePath(release!.infoHash), outsider);
    assert.match(anonymous, /failure reason.*not a member of this swarm/);
    const agent = new RawAgent(master.address);
    await agent.register("host-tracker");
    agent.close();
    assert.match(agent.swarmPasskey, /^[0-9a-f]{40}$/, "a registered agent gets a passkey");
    const known = await httpGet(
      master.httpPort,
      `${announcePath(release!.infoHash)}&passkey=${agent.swarmPasskey}`,
      outsider,
    );
    assert.doesNotMatch(known, /failure reason/);
    // Over HTTPS an agent's (or master's) certificate is membership enough; an operator's is not.
    assert.doesNotMatch(await httpGet(master.httpPort, announcePath(release!.infoHash)), /failure reason/);
    assert.match(
      await httpGet(master.httpPort, announcePath(release!.infoHash), tlsMaterial("admin")),
      /failure reason.*not a member of this swarm/,
    );
    assert.match(known, /8:intervali\d+e/);
    // The seeder announced itself: a leecher is told about it (compact peers: 6 bytes each).
    assert.match(known, /5:peers\d+:/);
    assert.doesNotMatch(known, /5:peers0:/);
  });

  test("launches name known releases only; offers list the releases an agent holds; rm waits for tasks", async () => {
    const agent = new RawAgent(master.address);
    const agentId = await agent.register("host-a", [
      { release: "web@1.0", sha256: web.sha256, size: 300_000 },
    ]);
    const sched = new SchedulerServiceClient(master.address, frameworkCredentials(), CHANNEL_OPTIONS);
    const events: Event[] = [];
    const stream = sched.subscribe({
      frameworkInfo: {
        id: "",
        name: "t",
        role: "",
        failoverTimeoutSeconds: 0,
        user: "",
        hostname: "",
        labels: {},
        endpoint: "",
      } as any,
      frameworkSecret: "",
    });
    stream.on("data", (e: Event) => events.push(e));
    stream.on("error", () => undefined);
    try {
      const subscribed = (await waitFor("subscribed", () => events.find((e) => e.subscribed)))!.subscribed!;
      const fwId = subscribed.frameworkId;
      // Calls in the framework's name carry its subscription secret.
      const md = authMetadata(undefined, subscribed.session);
      const nextOffer = async (seen: number) =>
        waitFor(
          "an offer",
          () => events.slice(seen).find((e) => e.type === Event_Type.OFFERS)?.offers?.offers[0],
        );
      let offer = await nextOffer(0);
      assert.equal(offer.agentId, agentId);
      assert.deepEqual(offer.releases, ["web@1.0"]);

      const launch = (release: string, offerId: string) =>
        unary(
          sched.accept,
          sched,
          {
            frameworkId: fwId,
            offerIds: [offerId],
            operations: [
              {
                type: Operation_Type.LAUNCH,
                launch: {
                  tasks: [
                    {
                      taskId: `t-${release.replace("@", "-")}`,
                      name: "t",
                      agentId: "",
                      resources: { cpus: 0.1, mem: 16, disk: 0, ports: [] },
                      command: { value: "true", arguments: [], shell: true, env: {} },
                      executor: "",
                      labels: {},
                      killGraceSeconds: 0,
                      release,
                    },
                  ],
                },
              },
            ],
          },
          md,
        );
      const seen = events.length;
      await assert.rejects(launch("nope@1", offer.id), (err: { details?: string; code?: number }) => {
        assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
        assert.equal(err.details, 'operations[0].launch.tasks[0].release: "nope@1" is not a known release');
        return true;
      });
      offer = await nextOffer(seen);
      await launch("web@1.0", offer.id);
      const run = await waitFor(
        "run_task",
        () => agent.received.find((m) => m.batch?.runTasks.length)?.batch?.runTasks[0],
      );
      assert.equal(run.task?.release, "web@1.0");
      assert.equal(run.artifact?.release, "web@1.0");
      assert.equal(run.artifact?.sha256, web.sha256);
      assert.equal(run.artifact?.size, 300_000);
      assert.equal(run.artifact?.kind, "file");
      assert.ok((run.artifact?.torrent.length ?? 0) > 0);

      await assert.rejects(client.remove("web@1.0"), (err: Error) => {
        assert.equal(grpcCode(err), GrpcStatus.FAILED_PRECONDITION);
        assert.match(
          err.message,
          /release web@1\.0 is in use by 1 task\(s\) that have not ended \(fw-[^/)]+\/t-web-1\.0\)/,
        );
        return true;
      });
      agent.send({
        status: {
          status: {
            taskId: "t-web-1.0",
            state: TaskState.TASK_FINISHED,
            agentId,
            frameworkId: fwId,
            uuid: "u-1",
            timestamp: Date.now() / 1000,
            message: "",
            reason: "",
            source: "agent",
            exitCode: 0,
          } as any,
        },
      });
      await waitFor("the task to end", async () => {
        const s = await client.status("web@1.0");
        return s && master.master.tasksUsingRelease("web@1.0").length === 0;
      });
      // A copy for removal, so that web@1.0 stays for the other tests.
      await pushFile(client, "gone@1", other.path, 300_000);
      agent.send({
        fetchProgress: {
          release: "gone@1",
          sha256: other.sha256,
          state: "DONE",
          downloaded: 300_000,
          uploaded: 0,
          size: 300_000,
          downloadRate: 0,
          uploadRate: 0,
          error: "",
        },
      });
      await waitFor("gone@1 held", async () => (await client.status("gone@1")).agents[0]?.state === "DONE");
      await client.remove("gone@1");
      const evict = await waitFor("evict", () => agent.received.find((m) => m.evictArtifact)?.evictArtifact);
      assert.equal(evict.release, "gone@1");
      await assert.rejects(client.status("gone@1"), /not found/);
    } finally {
      stream.cancel();
      sched.close();
      agent.close();
    }
  });

  test("staging sends fetch commands, follows progress to completion, and re-sends after a re-registration", async () => {
    const agent = new RawAgent(master.address);
    const agentId = await agent.register("host-b");
    try {
      const staged = await client.stage({ release: "web@1.0", agentIds: [agentId] });
      assert.equal(staged.complete, false);
      assert.deepEqual(
        staged.agents.map((a) => [a.agentId, a.state]),
        [[agentId, "PENDING"]],
      );
      const fetch = await waitFor(
        "fetch_artifact",
        () => agent.received.find((m) => m.fetchArtifact)?.fetchArtifact,
      );
      assert.equal(fetch.release, "web@1.0");
      assert.equal(fetch.sha256, web.sha256);
      assert.equal(fetch.size, 300_000);

      const seen: StageStatus[] = [];
      const watch = client.watchStage({ release: "web@1.0", agentIds: [agentId] });
      const ended = new Promise<void>((resolve, reject) => {
        watch.on("data", (s: StageStatus) => seen.push(s));
        watch.on("end", resolve);
        watch.on("error", reject);
      });
      await waitFor("first status", () => seen.length > 0);
      const report = (state: string, downloaded: number) =>
        agent.send({
          fetchProgress: {
            release: "web@1.0",
            sha256: web.sha256,
            state,
            downloaded,
            uploaded: 0,
            size: 300_000,
            downloadRate: 1000,
            uploadRate: 0,
            error: "",
          },
        });
      report("FETCHING", 150_000);
      await waitFor("fetching", () => seen.some((s) => s.agents[0]?.state === "FETCHING"));
      report("VERIFYING", 300_000);
      report("DONE", 300_000);
      await ended;
      const last = seen[seen.length - 1]!;
      assert.equal(last.complete, true);
      assert.equal(last.failed, false);
      assert.deepEqual(
        last.agents.map((a) => [a.hostname, a.state, a.downloaded]),
        [["host-b", "DONE", 300_000]],
      );
      assert.ok(seen.some((s) => s.agents[0]?.state === "FETCHING" && s.agents[0].downloaded === 150_000));

      // It comes back with an empty cache: the staged release is owed again.
      agent.disconnect();
      await agent.register("host-b");
      const again = await waitFor(
        "fetch_artifact again",
        () => agent.received.find((m) => m.fetchArtifact)?.fetchArtifact,
      );
      assert.equal(again.release, "web@1.0");
      const s = await client.status("web@1.0");
      assert.equal(s.agents.find((a) => a.agentId === agentId)?.state, "PENDING");

      // A failure ends a watch with failed set.
      const watch2 = client.watchStage({ release: "web@1.0", agentIds: [agentId] });
      const statuses: StageStatus[] = [];
      const ended2 = new Promise<void>((resolve, reject) => {
        watch2.on("data", (x: StageStatus) => statuses.push(x));
        watch2.on("end", resolve);
        watch2.on("error", reject);
      });
      await waitFor("watching", () => statuses.length > 0);
      agent.send({
        fetchProgress: {
          release: "web@1.0",
          sha256: web.sha256,
          state: "FAILED",
          downloaded: 0,
          uploaded: 0,
          size: 300_000,
          downloadRate: 0,
          uploadRate: 0,
          error: "sha256 mismatch",
        },
      });
      await ended2;
      const fin = statuses[statuses.length - 1]!;
      assert.equal(fin.failed, true);
      assert.equal(fin.agents[0]?.error, "sha256 mismatch");
    } finally {
      agent.close();
    }
  });

  test("staging an unknown release or agent is refused", async () => {
    await assert.rejects(client.stage({ release: "nope@1", agentIds: [] }), /release nope@1 not found/);
    await assert.rejects(
      client.stage({ release: "web@1.0", agentIds: ["agent-x"] }),
      /agent_ids\[0\]: agent agent-x not found/,
    );
    await assert.rejects(
      client.stage({ release: "web", agentIds: [] }),
      /release: "web" is not NAME@VERSION/,
    );
  });
});
