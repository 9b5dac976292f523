// hello-framework: the smallest complete Yard framework. It runs N tasks of a shell command,
// one attempt each, and exits when all of them ended (code 0 when all finished).
//
//   node dist/frameworks/examples/hello-framework.js --master 127.0.0.1:7070 --tasks 3 [--command "echo hi"]
//     --tls-dir ~/.yard/tls [--tls-name hello]     (or --insecure for a master started with it)
import { loadTlsMaterial, type TransportChoice } from "../../common/tls.js";
import {
  isTerminal,
  SchedulerDriver,
  stateName,
  TaskState,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";

/** `tls` (a framework certificate and the cluster CA) or `insecure: true`. */
export interface HelloOptions extends TransportChoice {
  master: string;
  tasks: number;
  command?: string;
  token?: string;
}

/** Resolves with the final state name of each task, by task id. */
export async function runHello(opts: HelloOptions): Promise<Record<string, string>> {
  const driver = new SchedulerDriver({
    master: opts.master,
    token: opts.token,
    tls: opts.tls,
    insecure: opts.insecure,
    framework: { name: "hello" },
  });
  const toLaunch = Array.from({ length: opts.tasks }, (_, i) => i);
  const ended: Record<string, string> = {};
  const allEnded = new Promise<void>((resolve) => {
    driver.on("update", ({ status }) => {
      if (!isTerminal(status.state)) return;
      ended[status.taskId] = stateName(status.state);
      if (Object.keys(ended).length === opts.tasks) resolve();
    });
  });

  driver.on("offers", async ({ offers }) => {
    for (const offer of offers) {
      // Ask for 0.1 cpu and 32 MiB per task; take as many as fit in this offer.
      const { placed } = takeTasks(
        offer,
        toLaunch.map(() => ({ cpus: 0.1, mem: 32 })),
      );
      const batch = placed.map((p) => toLaunch[p.index]);
      if (batch.length === 0) {
        await driver.decline([offer.id], { refuseSeconds: 5 });
        continue;
      }
      toLaunch.splice(0, toLaunch.length, ...toLaunch.filter((i) => !batch.includes(i)));
      const tasks = batch.map((i) =>
        taskInfo({
          taskId: `hello-${driver.frameworkId}-${i}`,
          command: opts.command ?? "echo hello from task $YARD_TASK_ID",
          cpus: 0.1,
          mem: 32,
        }),
      );
      await driver.launch(offer, tasks);
      if (toLaunch.length === 0) await driver.suppress(); // nothing more to place
    }
  });

  await driver.start();
  await allEnded;
  await driver.teardown(); // the framework is done: the master forgets it
  return ended;
}

// Run as a program.
if (process.argv[1]?.endsWith("hello-framework.js")) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
  };
  const insecure = process.argv.includes("--insecure");
  const tlsDir = arg("tls-dir", "");
  runHello({
    insecure,
    tls: insecure || !tlsDir ? undefined : loadTlsMaterial({ dir: tlsDir, name: arg("tls-name", "hello") }),
    master: arg("master", "127.0.0.1:7070"),
    tasks: Number(arg("tasks", "3")),
    command: arg("command", "echo hello from task $YARD_TASK_ID"),
    token: process.env.YARD_TOKEN,
  })
    .then((states) => {
      console.log(states);
      process.exit(Object.values(states).every((s) => s === stateName(TaskState.TASK_FINISHED)) ? 0 : 1);
    })
    .catch((err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(2);
    });
}
