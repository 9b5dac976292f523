// A framework written against the public SDK, as a process of its own (so that it can run in
// a network namespace): the test framework of test/cluster/queue-framework.ts, driven by JSON
// lines on stdin and reporting on stdout, one JSON line per driver event.
//   node sdk-framework-process.js MASTERS NAME      (token in YARD_TOKEN, TLS as in tests)
//   stdin:  {"submit": {"taskId": "...", "command": "..."}}
//   stdout: {"event":"subscribed","master":"h:p","frameworkId":"...","reconnected":false}
//           {"event":"update","taskId":"...","state":3,"message":"...","at":1700000000000}
//           {"event":"disconnected","reason":"..."}
import { createInterface } from "node:readline";
import { QueueFramework, type QueuedTask } from "../cluster/queue-framework.js";

const [masters, name] = process.argv.slice(2);
if (!masters || !name) throw new Error("usage: sdk-framework-process.js MASTERS NAME");
const token = process.env.YARD_TOKEN;
if (!token) throw new Error("YARD_TOKEN is not set");

const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const fw = new QueueFramework(masters, token, name);
fw.driver.on("subscribed", (e) =>
  out({
    event: "subscribed",
    master: fw.driver.master,
    frameworkId: e.frameworkId,
    reconnected: e.reconnected,
  }),
);
fw.driver.on("disconnected", (e) => out({ event: "disconnected", reason: e.reason }));
fw.driver.on("update", ({ status }) =>
  out({
    event: "update",
    taskId: status.taskId,
    state: status.state,
    message: status.message,
    at: Date.now(),
  }),
);
createInterface({ input: process.stdin }).on("line", (line) => {
  const msg = JSON.parse(line) as { submit?: QueuedTask };
  if (msg.submit) fw.submit(msg.submit);
});
// Ends with its parent's pipe: a test that dies leaves no framework behind.
process.stdin.on("end", () => {
  fw.driver.stop().finally(() => process.exit(0));
});
await fw.start();
