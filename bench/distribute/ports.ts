// Fixed ports of the benchmark's server host (its own network namespace, so nothing clashes).
export const TRACKER_PORT = 6969;
export const HTTP_PORT = 8080;
