// The cluster's identity: an id made when a master first creates its registry, kept in the
// registry's meta and in an identity file beside it. It lets the master notice that its
// registry was lost (an empty registry in a data dir that held a cluster) instead of
// starting, unnoticed, a new empty cluster whose refusals make every agent kill its tasks;
// and it lets agents notice a master of another cluster (docs/architecture.md).
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { YardError } from "../common/errors.js";
import { status as GrpcStatus } from "@grpc/grpc-js";

/** The identity file in the master's data dir. */
export const IDENTITY_FILE = "cluster-id";

/** What the data dir shows about the cluster it held. */
export interface IdentityFacts {
  /** The cluster id in the registry's meta, if any. */
  registryId?: string;
  /** The registry holds nothing at all (a missing, truncated or never used master.db). */
  registryEmpty: boolean;
  /** The id in the identity file, if the file exists. */
  fileId?: string;
  /** Release blobs stored in the data dir. */
  releaseBlobs: number;
  /** The operator asked to start a new cluster if the registry is empty. */
  startAfresh: boolean;
}

export type IdentityDecision =
  | {
      clusterId: string;
      /** Write the id into the registry's meta / the identity file. */
      writeRegistry: boolean;
      writeFile: boolean;
      /** Why, for the log: "new", "migrated", "afresh", "kept", "file restored". */
      how: "new" | "migrated" | "afresh" | "kept" | "file restored";
    }
  | { refuse: string };

/**
 * Decides the cluster id, or refuses to start. Pure: the facts are read by the caller.
 *
 * - A registry with an id keeps it, and the identity file is rewritten if it is lost or names
 *   another cluster (a registry put back from a backup after a start afresh): the registry is
 *   the authority, and agents of another cluster are refused by their own cluster id.
 * - A registry from before cluster ids that holds anything adopts the identity file's id, else
 *   gets a new one (migration).
 * - An empty registry in a data dir that shows a cluster (identity file, release blobs) is
 *   refused unless `startAfresh`; with nothing to show, a new cluster begins.
 */
export function decideClusterIdentity(f: IdentityFacts, newId: () => string): IdentityDecision {
  if (f.registryId) {
    const same = f.fileId === f.registryId;
    return {
      clusterId: f.registryId,
      writeRegistry: false,
      writeFile: !same,
      how: same ? "kept" : "file restored",
    };
  }
  if (!f.registryEmpty) {
    return {
      clusterId: f.fileId || newId(),
      writeRegistry: true,
      writeFile: f.fileId === undefined,
      how: "migrated",
    };
  }
  const signs: string[] = [];
  if (f.fileId !== undefined)
    signs.push(`the identity file ${IDENTITY_FILE} names cluster ${f.fileId || "(empty)"}`);
  if (f.releaseBlobs > 0) signs.push(`${f.releaseBlobs} release blob(s) in releases/blobs`);
  if (signs.length === 0) return { clusterId: newId(), writeRegistry: true, writeFile: true, how: "new" };
  if (f.startAfresh) return { clusterId: newId(), writeRegistry: true, writeFile: true, how: "afresh" };
  return {
    refuse:
      `the registry (master.db) is empty or missing, but the data dir held a cluster: ${signs.join("; ")}. ` +
      "Starting would make a new, empty cluster that knows none of the agents or their tasks. " +
      "Put back master.db from a backup, or start with --start-afresh to begin a new cluster " +
      "(agents of the old cluster are then refused with WRONG_CLUSTER and keep their tasks running)",
  };
}

/** The master refuses to start: its data dir does not match its registry. */
export class ClusterIdentityError extends YardError {
  readonly code = GrpcStatus.FAILED_PRECONDITION;
  constructor(
    readonly dataDir: string,
    detail: string,
  ) {
    super(`master data dir ${dataDir}: ${detail}`);
  }
}

/** The registry side of the identity, as the master's store offers it. */
export interface IdentityRegistry {
  clusterId(): string | undefined;
  setClusterId(id: string): void;
  isEmpty(): boolean;
}

/**
 * Reads the facts from `dataDir` and `registry`, decides, and writes what the decision asks
 * for. Returns the cluster id and how it was reached; throws ClusterIdentityError on refusal.
 */
export function establishClusterIdentity(
  dataDir: string,
  registry: IdentityRegistry,
  startAfresh: boolean,
): { clusterId: string; how: string } {
  const file = join(dataDir, IDENTITY_FILE);
  const facts: IdentityFacts = {
    registryId: registry.clusterId(),
    registryEmpty: registry.isEmpty(),
    fileId: existsSync(file) ? readFileSync(file, "utf8").trim() : undefined,
    releaseBlobs: countBlobs(join(dataDir, "releases", "blobs")),
    startAfresh,
  };
  const d = decideClusterIdentity(facts, () => `cluster-${randomUUID()}`);
  if ("refuse" in d) throw new ClusterIdentityError(dataDir, d.refuse);
  if (d.writeRegistry) registry.setClusterId(d.clusterId);
  if (d.writeFile) {
    writeFileSync(`${file}.tmp`, `${d.clusterId}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
  return { clusterId: d.clusterId, how: d.how };
}

function countBlobs(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}
