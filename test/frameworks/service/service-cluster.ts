// A test cluster with the service framework: a master, `agents` agents, and `yardctl service`
// as its own process, with a client of the framework's deploy API. Shared by the service
// framework's end-to-end tests, which differ in what they deploy, not in how they start.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { CHANNEL_OPTIONS } from "../../../common/grpc.js";
import { DeployServiceClient } from "../../../proto/gen/yard/v1/deploy.js";
import { type TestCluster, waitFor, YARDCTL } from "../../cluster/harness.js";
import { operatorCredentials, tlsEnv } from "../../tls-fixture.js";

export interface ServiceCluster {
  service: ChildProcess;
  client: DeployServiceClient;
  /** Closes the client, kills the framework's process (waiting for its exit), stops the cluster. */
  stop(): Promise<void>;
}

export async function startServiceCluster(cluster: TestCluster, agents: number): Promise<ServiceCluster> {
  await cluster.startMaster();
  for (let i = 0; i < agents; i++) await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(agents);
  const home = path.join(cluster.root, "service-home");
  const service = spawn(
    process.execPath,
    [YARDCTL, "service", "--master", cluster.masterAddress, "--data-dir", home, "--token", cluster.token],
    {
      env: { ...process.env, ...tlsEnv(), YARD_HOME: home, YARD_LOG_LEVEL: "warn" },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const fw = await waitFor("the service framework", async () =>
    (await cluster.getFrameworks()).find(
      (f) => f.info?.name === "service" && f.status === "CONNECTED" && f.info.endpoint,
    ),
  ).catch((err) => {
    service.kill("SIGKILL");
    throw err;
  });
  const client = new DeployServiceClient(
    fw.info!.endpoint,
    operatorCredentials("framework"),
    CHANNEL_OPTIONS,
  );
  return {
    service,
    client,
    async stop() {
      client.close();
      if (service.exitCode === null) {
        const exited = new Promise((r) => service.once("exit", r));
        service.kill("SIGKILL");
        await exited;
      }
      await cluster.stop();
    },
  };
}
