// The etcd registry's write path alone (MirroredKv on a real etcd member the benchmark starts):
// C clients, each writing a unit shaped like an Accept's smallest (a task, an event, its
// agent's record) and waiting for its acknowledgement (afterCommit) before the next, as a
// master's replies do. Runs the same load with one txn in flight and with several, alternated,
// and prints acknowledged units/s of each and their ratio.
//
//   node dist/bench/etcd-writes/run.js [--clients 16] [--units 300] [--in-flight 8] [--rounds 3]
import { parseArgs } from "node:util";
import { Etcd3 } from "etcd3";
import { MirroredKv } from "../../common/etcd/mirrored-kv.js";
import type { Logger } from "../../common/logger.js";
import { startEtcd } from "../../test/etcd-fixture.js";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "16" },
    /** Units per client. */
    units: { type: "string", default: "300" },
    "in-flight": { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
  },
});
const C = Number(values.clients);
const PER = Number(values.units);
const WINDOW = Number(values["in-flight"]);
const ROUNDS = Number(values.rounds);
for (const [name, v] of [
  ["--clients", C],
  ["--units", PER],
  ["--in-flight", WINDOW],
  ["--rounds", ROUNDS],
] as const) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`${name} ${JSON.stringify(String(v))}: want a whole number >= 1`);
    process.exit(2);
  }
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };
const etcd = await startEtcd();
const client = new Etcd3({ hosts: etcd.endpoint });
let event = 0;
let run = 0;

/** One pass of the load; returns acknowledged units/s. */
async function pass(inFlight: number): Promise<number> {
  const prefix = `/bench-writes/${++run}/`;
  const kv = await MirroredKv.open({ client, prefix, logger: quiet, maxTxnsInFlight: inFlight });
  const lease = client.lease(60);
  const key = `/bench-writes-election/${run}`;
  await lease.put(key).value("bench");
  await kv.promote({ key, createRevision: (await client.get(key).exec()).kvs[0]!.create_revision });
  const start = performance.now();
  await Promise.all(
    Array.from({ length: C }, async (_, c) => {
      for (let i = 0; i < PER; i++) {
        kv.unit(() => {
          kv.put(`tasks/fw/c${c}-t${i}`, "t".repeat(400));
          kv.put(`events/${String(++event).padStart(20, "0")}`, "e".repeat(200));
          kv.put(`agents/a${c}`, `${"a".repeat(300)}${i}`);
        });
        await kv.flush();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await kv.close();
  await lease.revoke();
  return (C * PER) / seconds;
}

try {
  console.log(`etcd write path: ${C} clients x ${PER} units (3 puts each), 1 vs ${WINDOW} txns in flight`);
  const one: number[] = [];
  const many: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    one.push(await pass(1));
    many.push(await pass(WINDOW));
    console.log(
      `round ${r + 1}: ${one[r]!.toFixed(0)} units/s with 1 in flight, ${many[r]!.toFixed(0)} units/s with ${WINDOW}`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `ratio ${WINDOW} in flight / 1 in flight: ${(median(many) / median(one)).toFixed(2)} (medians)`,
  );
} finally {
  client.close();
  await etcd.destroy();
}
