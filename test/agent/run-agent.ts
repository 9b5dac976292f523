// Runs an agent as its own process for the crash tests: `node run-agent.js '<AgentOptions JSON>'`.
// Without an argument (as when a test runner loads every file) it does nothing.
import { startAgent } from "../../agent/agent-daemon.js";

const arg = process.argv[2];
if (arg) {
  const agent = await startAgent(JSON.parse(arg));
  process.stdout.write("started\n");
  process.on("SIGTERM", () => {
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
