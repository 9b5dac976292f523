// Fixed ports of the benchmark's server host (its own network namespace, so nothing clashes).
/** The master's HTTP port: its tracker announces here. */
export const TRACKER_PORT = 6969;
export const GRPC_PORT = 7070;
export const HTTP_PORT = 8080;
/** The aria2 reference's own public tracker on the server host, apart from the master's. */
export const ARIA2_TRACKER_PORT = 6970;
/** Where every aria2c listens for peers (each host has its own namespace). */
export const ARIA2_PEER_PORT = 6881;

/** The master's certificate in the benchmark's TLS directory: valid for the server host's address. */
export function benchMasterName(ip: string): string {
  return `master-${ip.replace(/[^0-9A-Za-z]/g, "-")}`;
}
