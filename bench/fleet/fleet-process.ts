// A process holding an AgentFleet, so that a benchmark's agents do not share a core's event
// loop with its frameworks. Started with the fleet's spec as JSON in argv[2]; prints
// "registered N" as agents register and "ready {…}" (JSON: seconds, rssMiB) once all have;
// on SIGTERM it stops the agents and exits. A line "status" on stdin is answered with
// "status {…}" (JSON: registered, connected, launches), for benchmarks that watch a failover.
import { createInterface } from "node:readline";
import { AgentFleet, type FleetSpec } from "./agent-fleet.js";

const spec = JSON.parse(process.argv[2] ?? "{}") as FleetSpec;
const fleet = new AgentFleet(spec);
const t0 = performance.now();
let reported = 0;
await fleet.start((n) => {
  if (n - reported >= 1000) {
    reported = n;
    console.log(`registered ${n}`);
  }
});
console.log(
  `ready ${JSON.stringify({
    seconds: (performance.now() - t0) / 1000,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  })}`,
);
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "status") return;
  const status = { registered: fleet.registered(), connected: fleet.connected(), launches: fleet.launches };
  console.log(`status ${JSON.stringify(status)}`);
});
process.on("SIGTERM", () => {
  fleet.stop().finally(() => process.exit(0));
});
