// Fixed ports of the benchmark's server host (its own network namespace, so nothing clashes).
/** The master's HTTP port: its tracker announces here. */
export const TRACKER_PORT = 6969;
export const GRPC_PORT = 7070;
export const HTTP_PORT = 8080;

/** The master's certificate in the benchmark's TLS directory: valid for the server host's address. */
export function benchMasterName(ip: string): string {
  return `master-${ip.replace(/[^0-9A-Za-z]/g, "-")}`;
}
