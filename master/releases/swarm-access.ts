// Who may use the master's swarm (docs/security.md, "The private swarm"). The master draws
// a swarm key when it starts (never stored: a restart rotates it, and agents get the new one
// when they register again). From it come:
//   - each agent's passkey for the tracker, HMAC(key, agent id): the tracker accepts an
//     announce or a scrape only with the passkey of an agent that is still a member, or the
//     master's own;
//   - grants: an operator lets one host (by address) fetch one release with an outside
//     client until a deadline. The grant is a token in the announce URL, signed with the key;
//     the master's seed also admits that host's connections to that release without the
//     swarm handshake (common/swarm-auth.ts) while the grant lasts.
// The clock is injected so that expiry is testable without waiting.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { InvalidArgumentError } from "../../common/errors.js";

/** The master's own passkey stands for this id; no agent has an empty id. */
const MASTER_ID = "";
const DEFAULT_GRANT_TTL_MS = 3_600_000;
export const MAX_GRANT_TTL_MS = 24 * 3_600_000;

export interface SwarmAccessComponents {
  /** Whether `agentId` is a registered agent that has not been lost or removed. */
  isMember: (agentId: string) => boolean;
  now?: () => number;
}

export interface Grant {
  infoHash: string;
  host: string;
  addresses: string[];
  expiresAt: number;
  token: string;
}

/** Who a tracker request comes from, when it is allowed. */
export type SwarmCaller = { kind: "member"; id: string } | { kind: "grant"; grant: Grant };

export class SwarmAccess {
  readonly key: Buffer;
  private readonly passkeys = new Map<string, string>();
  private grants: Grant[] = [];
  private readonly now: () => number;

  constructor(
    private readonly components: SwarmAccessComponents,
    key: Buffer = randomBytes(32),
  ) {
    this.key = key;
    this.now = components.now ?? Date.now;
    // Known from the start, not from the seeder's first announce: in HA the standbys announce
    // with it (they derive it from the shared key) before this master may have announced.
    this.masterPasskey();
  }

  /** The tracker passkey of an agent (the same for one agent id while the master runs). */
  passkeyFor(agentId: string): string {
    if (!agentId) throw new InvalidArgumentError("agent_id", "is required for a swarm passkey");
    const passkey = this.mac(`passkey\n${agentId}`).subarray(0, 20).toString("hex");
    this.passkeys.set(passkey, agentId);
    return passkey;
  }

  /** The passkey of the master's own seeder. */
  masterPasskey(): string {
    const passkey = this.mac("master passkey").subarray(0, 20).toString("hex");
    this.passkeys.set(passkey, MASTER_ID);
    return passkey;
  }

  /**
   * Who `params` (an announce's or scrape's query) and the caller's address speak for, or
   * undefined when they prove nothing. A grant counts only for its release and from its host.
   */
  caller(
    params: { passkey?: unknown; grant?: unknown },
    address: string,
    infoHash?: string,
  ): SwarmCaller | undefined {
    if (typeof params.passkey === "string") {
      const id = this.passkeys.get(params.passkey);
      if (id !== undefined && (id === MASTER_ID || this.components.isMember(id)))
        return { kind: "member", id };
      return undefined;
    }
    if (typeof params.grant === "string") {
      const grant = this.grants.find((g) => safeEqual(g.token, params.grant as string));
      if (!grant || grant.expiresAt <= this.now()) return undefined;
      if (infoHash !== undefined && grant.infoHash !== infoHash) return undefined;
      if (!grant.addresses.includes(plainAddress(address))) return undefined;
      return { kind: "grant", grant };
    }
    return undefined;
  }

  /** Lets `host` fetch the release `infoHash` with an outside client for `ttlMs`. */
  async grant(infoHash: string, host: string, ttlMs = DEFAULT_GRANT_TTL_MS): Promise<Grant> {
    if (!host) throw new InvalidArgumentError("host", "is required: the host the grant lets in");
    if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_GRANT_TTL_MS) {
      throw new InvalidArgumentError("ttl_seconds", `${ttlMs / 1000} s is not between 1 s and 24 h`);
    }
    const addresses = await resolveHost(host);
    const expiresAt = this.now() + ttlMs;
    const body = Buffer.from(JSON.stringify({ i: infoHash, a: addresses, e: expiresAt })).toString(
      "base64url",
    );
    const token = `${body}.${this.mac(`grant\n${body}`).toString("base64url")}`;
    const grant: Grant = { infoHash, host, addresses, expiresAt, token };
    this.grants = this.grants.filter((g) => g.expiresAt > this.now());
    this.grants.push(grant);
    return grant;
  }

  /** Whether a live grant lets `address` into the swarm of `infoHash` (the seed's check). */
  granted(address: string, infoHash: string): boolean {
    const a = plainAddress(address);
    const now = this.now();
    return this.grants.some((g) => g.infoHash === infoHash && g.expiresAt > now && g.addresses.includes(a));
  }

  private mac(text: string): Buffer {
    return createHmac("sha256", this.key).update(text).digest();
  }
}

async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host)) return [plainAddress(host)];
  try {
    const found = await lookup(host, { all: true });
    return [...new Set(found.map((f) => plainAddress(f.address)))];
  } catch (err) {
    throw new InvalidArgumentError("host", `"${host}" does not resolve: ${(err as Error).message}`);
  }
}

/** An IPv4 address seen through an IPv6 socket (::ffff:10.0.0.1) as the plain IPv4 address. */
export function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
