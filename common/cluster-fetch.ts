// A fetch dispatcher that trusts the cluster CA and presents this process's certificate, for
// the HTTPS calls of tests and benchmarks to a master (its metrics, its tracker as an outside
// client does). Only the requests given this dispatcher trust the cluster CA; every other fetch of the process keeps the system roots, and no verification
// is turned off anywhere.
import type { TlsMaterial } from "./tls.js";

/** The dispatcher interface fetch uses; kept opaque, it is only handed through. */
export type Dispatcher = object;

type AgentCtor = new (opts: { connect: { ca: Buffer; cert?: Buffer; key?: Buffer } }) => Dispatcher;
let agentCtor: AgentCtor | undefined;

/**
 * Node bundles undici for fetch but does not export its Agent class; the global dispatcher
 * is an instance of it, created by the first fetch (a data: URL, so no network). Taking the
 * class from there avoids a second copy of undici whose dispatcher fetch might not accept.
 */
async function undiciAgent(): Promise<AgentCtor> {
  if (agentCtor) return agentCtor;
  await (await fetch("data:,")).arrayBuffer();
  const global = (globalThis as Record<symbol, unknown>)[Symbol.for("undici.globalDispatcher.1")];
  const ctor = (global as { constructor?: unknown } | undefined)?.constructor;
  if (typeof ctor !== "function") throw new Error("this Node.js has no undici dispatcher for fetch");
  agentCtor = ctor as AgentCtor;
  return agentCtor;
}

/**
 * A dispatcher for HTTPS requests to the cluster (the master's tracker). Without cert and
 * key it trusts the cluster CA but presents no certificate, as an outside client does.
 */
export async function clusterDispatcher(
  m: Pick<TlsMaterial, "ca"> & Partial<TlsMaterial>,
): Promise<Dispatcher> {
  const Agent = await undiciAgent();
  return new Agent({ connect: { ca: m.ca, cert: m.cert, key: m.key } });
}
