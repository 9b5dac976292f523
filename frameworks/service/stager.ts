// Staging a release on agents before a rollout replaces anything, through the master's
// ReleaseService (Stage, then WatchStage until every target holds it or one failed). The
// framework SDK has no staging call yet, so this dials the master's ReleaseService with the
// generated client, like any other client of the master.
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, insecureChannel, unary } from "../../common/grpc.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../framework-sdk/index.js";
import { ReleaseServiceClient, type StageStatus } from "../../proto/gen/yard/v1/release.js";
import type { StagingAgent } from "./service-state.js";

export interface StageResult {
  ok: boolean;
  error: string;
}

export interface StageProgress {
  agents: StagingAgent[];
}

export interface Stager {
  /** Resolves once the release is on every agent (ok) or staging failed; never rejects. */
  stage(
    release: string,
    agentIds: readonly string[],
    onProgress: (p: StageProgress) => void,
  ): Promise<StageResult>;
  close(): void;
}

function agentsOf(s: StageStatus): StagingAgent[] {
  return s.agents.map((a) => ({
    agentId: a.agentId,
    hostname: a.hostname,
    state: a.state,
    downloaded: a.downloaded,
    size: a.size,
    error: a.error,
  }));
}

function failureOf(s: StageStatus): string {
  const bad = s.agents.filter((a) => a.state === "FAILED");
  return bad.map((a) => `${a.hostname || a.agentId}: ${a.error || "failed"}`).join("; ") || "staging failed";
}

export class ReleaseStager implements Stager {
  private readonly client: ReleaseServiceClient;
  private readonly calls = new Set<{ cancel(): void }>();

  constructor(
    master: string,
    private readonly token: string | undefined,
    private readonly log: Logger,
  ) {
    this.client = new ReleaseServiceClient(master, insecureChannel(), CHANNEL_OPTIONS);
  }

  async stage(
    release: string,
    agentIds: readonly string[],
    onProgress: (p: StageProgress) => void,
  ): Promise<StageResult> {
    const req = { release, agentIds: [...agentIds] };
    try {
      const first = await unary(this.client.stage, this.client, req, authMetadata(this.token), 30_000);
      onProgress({ agents: agentsOf(first) });
      if (first.failed) return { ok: false, error: failureOf(first) };
      if (first.complete) return { ok: true, error: "" };
    } catch (err) {
      return { ok: false, error: errorMessage(err) };
    }
    return new Promise<StageResult>((resolve) => {
      const call = this.client.watchStage(req, authMetadata(this.token));
      this.calls.add(call);
      let settled = false;
      const settle = (r: StageResult) => {
        if (settled) return;
        settled = true;
        this.calls.delete(call);
        call.cancel();
        resolve(r);
      };
      call.on("data", (s: StageStatus) => {
        onProgress({ agents: agentsOf(s) });
        if (s.failed) settle({ ok: false, error: failureOf(s) });
        else if (s.complete) settle({ ok: true, error: "" });
      });
      call.on("error", (err) => {
        this.log.debug("stage watch ended", { error: String(err) });
        settle({ ok: false, error: errorMessage(err) });
      });
      call.on("end", () =>
        settle({ ok: false, error: "the staging watch ended before the release was staged" }),
      );
    });
  }

  close(): void {
    for (const c of this.calls) c.cancel();
    this.calls.clear();
    this.client.close();
  }
}
