// The private swarm's key when several masters share one cluster (HA; docs/ha.md, "Releases in
// HA"). A single master draws its key at start and never writes it down (swarm-access.ts).
// Masters of one cluster must agree on it instead: the leader's tracker and seed check the
// passkeys and the `yard_auth` proofs of the standbys, which fetch every release as peers, and
// agents keep their passkeys across a failover. So the key lives in etcd at
// <prefix>/swarm-key, created once by whichever master comes first (a compare-and-create: the
// put happens only while the key does not exist), and read by every other. It is never
// rewritten, so no leadership fences it. Whoever reads etcd under the prefix can join the swarm;
// etcd already holds the whole registry, and must be guarded accordingly (docs/security.md).
import { randomBytes } from "node:crypto";
import type { Etcd3 } from "etcd3";

export const SWARM_KEY = "swarm-key";
const KEY_BYTES = 32;

/** The cluster's swarm key from etcd, created (32 random bytes) if no master made it yet. */
export async function sharedSwarmKey(client: Etcd3, prefix: string): Promise<Buffer> {
  const key = `${prefix}/${SWARM_KEY}`;
  const drawn = randomBytes(KEY_BYTES).toString("base64");
  await client.if(key, "Create", "==", 0).then(client.put(key).value(drawn)).commit();
  const stored = await client.get(key).string();
  const bytes = stored === null ? undefined : Buffer.from(stored, "base64");
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new Error(`etcd key ${key} does not hold a ${KEY_BYTES}-byte swarm key (base64)`);
  }
  return bytes;
}
