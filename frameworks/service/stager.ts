// Staging a release on agents before a rollout replaces anything, and pinning the releases
// of the deployed revisions, through the framework SDK's ReleaseStaging (the master's
// distributor): stage, then watch until every target holds it or one failed.
import type { TransportChoice } from "../../common/tls.js";
import {
  type Logger,
  ReleaseStaging,
  type StageProgress as SdkStageProgress,
  StagingFailedError,
  type StoredReleaseInfo,
  type MasterListInput,
} from "../../framework-sdk/index.js";
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
  /** Replaces the releases the framework pins (the master refuses to remove them). */
  setPins(releases: readonly string[]): Promise<void>;
  close(): void;
}

function agentsOf(p: SdkStageProgress): StagingAgent[] {
  return p.agents.map((a) => ({
    agentId: a.agentId,
    hostname: a.hostname,
    state: a.state,
    downloaded: a.downloaded,
    size: a.size,
    error: a.error,
  }));
}

export class ReleaseStager implements Stager {
  private readonly staging: ReleaseStaging;

  /** `driver` gives the framework id that pins are set for, and its subscription secret. */
  constructor(
    master: MasterListInput,
    token: string | undefined,
    private readonly log: Logger,
    driver: { readonly frameworkId: string | undefined; readonly session?: string },
    transport: TransportChoice,
  ) {
    this.staging = new ReleaseStaging({ master, token, driver, logger: log, ...transport });
  }

  async stage(
    release: string,
    agentIds: readonly string[],
    onProgress: (p: StageProgress) => void,
  ): Promise<StageResult> {
    try {
      await this.staging.stageAndWait(release, agentIds, (p) => onProgress({ agents: agentsOf(p) }));
      return { ok: true, error: "" };
    } catch (err) {
      if (err instanceof StagingFailedError) {
        const bad = err.progress.agents.filter((a) => a.state === "FAILED");
        return {
          ok: false,
          error: bad.map((a) => `${a.hostname || a.agentId}: ${a.error || "failed"}`).join("; "),
        };
      }
      this.log.debug("staging call failed", { err });
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  setPins(releases: readonly string[]): Promise<void> {
    return this.staging.setPins(releases);
  }

  /** The master's record of a release; undefined when it stores none (release-check.ts). */
  describe(release: string): Promise<StoredReleaseInfo | undefined> {
    return this.staging.describe(release);
  }

  close(): void {
    this.staging.close();
  }
}
