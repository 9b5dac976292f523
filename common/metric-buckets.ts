// Histogram buckets shared by the master, the agents and the frameworks, so that series of
// the same kind can be compared and summed across daemons. Seconds and bytes per second, as
// Prometheus wants base units.

/** An allocation cycle: sub-millisecond on a small cluster, ~100 ms at 10,000 agents. */
export const CYCLE_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/**
 * Latencies that cross processes (offer to accept, accept to running, an update to its
 * acknowledgement, a health probe): milliseconds on a quiet cluster, up to a minute for a
 * launch that stages an image.
 */
export const LATENCY_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Rollout steps and other slow phases: seconds to an hour. */
export const PHASE_SECONDS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Transfer rates, 64 KiB/s to 1 GiB/s by factors of 4 (a 100 Mbit/s link is 12.5 MB/s). */
export const THROUGHPUT_BYTES_PER_SECOND = Array.from({ length: 8 }, (_, i) => 65536 * 4 ** i);
