// Helpers of the security tests: a policy file with one minted token per principal, and
// yardctl / gRPC calls made as one of those principals.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Metadata } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { mintToken } from "../../cli/commands/token.js";
import { type ClusterEvent, OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { runYardctl, type TestCluster, waitFor } from "../cluster/harness.js";
import { operatorCredentials } from "../tls-fixture.js";

export interface PrincipalSpec {
  name: string;
  kind: "operator" | "agent" | "framework";
  groups?: string[];
}

/**
 * Writes a policy file under the cluster's root with a token for each principal, plus `extra`
 * YAML (bindings, frameworks, ...) appended as is, and returns the file and the tokens by name.
 */
export function writePolicy(
  cluster: TestCluster,
  principals: PrincipalSpec[],
  extra = "",
): { file: string; tokens: Record<string, string> } {
  const tokens: Record<string, string> = {};
  const entries: string[] = [];
  for (const p of principals) {
    const { token, entry } = mintToken(p.name, p.kind, p.groups ?? []);
    tokens[p.name] = token;
    entries.push(entry);
  }
  const file = join(cluster.root, "acl.yaml");
  writeFileSync(file, `tokens:\n${entries.join("\n")}\n${extra}`, { mode: 0o600 });
  return { file, tokens };
}

/** Runs yardctl against the cluster as the holder of `token`. */
export function yardctlAs(cluster: TestCluster, token: string, args: string[], timeoutMs = 60_000) {
  return runYardctl(args, timeoutMs, { YARD_MASTER: cluster.masterAddress, YARD_TOKEN: token });
}

/** The events the master kept (replayed through Watch) until one matches `until`. */
export async function replayEventsUntil(
  cluster: TestCluster,
  token: string,
  until: (events: ClusterEvent[]) => boolean,
): Promise<ClusterEvent[]> {
  const client = new OperatorServiceClient(cluster.masterAddress, operatorCredentials(), CHANNEL_OPTIONS);
  const events: ClusterEvent[] = [];
  const stream = client.watch({ afterIndex: 0, replay: true, failIfGone: false }, authMetadata(token));
  stream.on("data", (e: ClusterEvent) => events.push(e));
  stream.on("error", () => undefined);
  try {
    await waitFor("the audit events", () => until(events), 20_000);
    return events;
  } finally {
    stream.cancel();
    client.close();
  }
}

/** One unary OperatorService call as the holder of `token`. */
export async function operatorCall<Req, Res>(
  cluster: TestCluster,
  token: string,
  method: (
    c: OperatorServiceClient,
  ) => (req: Req, md: Metadata, o: object, cb: (e: any, r: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  const client = new OperatorServiceClient(cluster.masterAddress, operatorCredentials(), CHANNEL_OPTIONS);
  try {
    return await unary(method(client), client, req, authMetadata(token));
  } finally {
    client.close();
  }
}
