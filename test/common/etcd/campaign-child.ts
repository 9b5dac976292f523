// A candidate in its own process, for tests that freeze it (SIGSTOP) or kill it.
// argv: endpoint prefix ttlSeconds value. Prints one JSON line per event on stdout:
// {"event":"leader",term,key,createRevision} and {"event":"lost",reason}. Reads commands on
// stdin: "write <key> <value>" attempts a put fenced on the leadership it last held and prints
// {"event":"write",succeeded}.
import { createInterface } from "node:readline";
import { Etcd3 } from "etcd3";
import { Campaign, type Leadership } from "../../../common/etcd/election.js";
import { silentLogger } from "../../../common/logger.js";

const [endpoint, prefix, ttl, value] = process.argv.slice(2) as [string, string, string, string];
const client = new Etcd3({ hosts: endpoint });
const campaign = new Campaign({ client, prefix, value, ttlSeconds: Number(ttl), logger: silentLogger });
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
let held: Leadership | undefined;

createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, key, val] = line.split(" ");
  if (cmd !== "write" || !held || !key) return;
  client
    .if(held.key, "Create", "==", held.createRevision)
    .then(client.put(key).value(val ?? ""))
    .commit()
    .then((r) => say({ event: "write", succeeded: r.succeeded }))
    .catch((err) => say({ event: "write", error: String(err) }));
});

const leadership = await campaign.won();
held = leadership;
say({
  event: "leader",
  term: leadership.term,
  key: leadership.key,
  createRevision: leadership.createRevision,
});
const reason = await leadership.lost;
say({ event: "lost", reason: reason.message });
