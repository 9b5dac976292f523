// Runs an agent as its own process for the crash tests: `node run-agent.js '<AgentOptions JSON>'`.
// Without an argument (as when a test runner loads every file) it does nothing. The agent
// presents the "agent" certificate of the TLS directory in YARD_TLS_DIR (tls-fixture.ts).
import { startAgent } from "../../agent/agent-daemon.js";
import { loadTlsMaterial } from "../../common/tls.js";

const arg = process.argv[2];
if (arg) {
  const dir = process.env.YARD_TLS_DIR;
  const tls = dir ? loadTlsMaterial({ dir, name: "agent" }) : undefined;
  const agent = await startAgent({ ...JSON.parse(arg), tls });
  process.stdout.write("started\n");
  process.on("SIGTERM", () => {
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
