// The address an agent's BitTorrent listener binds to when none is configured: the local
// address this host uses to reach the master. That is the address the master's tracker sees
// the agent announce from, so it is the one that other members connect to; binding it alone
// (not every interface) keeps the peer port off the networks the cluster does not use, e.g.
// 127.0.0.1 for a laptop cluster.
import dgram from "node:dgram";
import { isIP } from "node:net";

/** Splits "host:port" or "[v6]:port" into its parts. */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`master address "${address}" is not HOST:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * The local address of a (connected, never used) UDP socket toward the master: the kernel
 * picks the route, no packet is sent.
 */
export async function localAddressToward(masterAddress: string): Promise<string> {
  const { host, port } = splitHostPort(masterAddress);
  const family = isIP(host) === 6 ? "udp6" : "udp4";
  const socket = dgram.createSocket(family);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, host, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}
