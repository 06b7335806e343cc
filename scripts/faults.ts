/**
 * Faults under load, full size (`npm run faults`; not in CI, run it under the heavy lock): the same
 * deployment and faults as test/integration/faults-under-load.test.ts and drain-under-load.test.ts, with
 * 1,000 clients, every setting at its default (the socket.io ping, DRAIN_TIMEOUT_MS, ...), Redis away for
 * 30 s and the legacy backend stalled for 60 s, then SIGTERM on one instance. Prints each phase and a
 * Markdown table (the one in docs/operating.md). Options: --clients N --redis-outage-s S --stall-s S
 * --processes P --period-ms M --json FILE.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Deployment } from "../test/helpers/load/deployment.js";
import { drainFault, summarizeDrain } from "../test/helpers/load/drain-phase.js";
import { clusterTotal, describeResult, FAULTS, runFault, type PhaseResult } from "../test/helpers/load/faults.js";
import { LoadClients } from "../test/helpers/load/load-clients.js";
import { loadAverage, resultRow, TABLE_HEADER } from "../test/helpers/load/fault-table.js";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "1000" },
    "redis-outage-s": { type: "string", default: "30" },
    "stall-s": { type: "string", default: "60" },
    processes: { type: "string", default: "3" },
    "period-ms": { type: "string", default: "4000" },
    json: { type: "string" },
  },
});
const clients = Number(values.clients);
const timing = { redisOutageMs: Number(values["redis-outage-s"]) * 1000, stallMs: Number(values["stall-s"]) * 1000 };
const phase = { timing, leadMs: 3000, settleMs: 3000, backTimeoutMs: 180_000 };

const started = Date.now();
console.log(`faults under load: ${clients} clients, Redis away ${timing.redisOutageMs} ms, legacy stalled ${timing.stallMs} ms`);
const deployment = await Deployment.start();
const results: PhaseResult[] = [];
let drainLine = "";
let load: LoadClients | undefined;
try {
  load = await LoadClients.start(deployment.url, clients, {
    processes: Number(values.processes),
    periodMs: Number(values["period-ms"]),
  });
  await deployment.nodesSubscribed(3);
  console.log(`${clients} clients up after ${Math.round((Date.now() - started) / 1000)} s; load average ${loadAverage()}`);
  for (const [n, fault] of FAULTS.entries()) {
    const result = await runFault(deployment, load, n + 1, fault, phase);
    results.push(result);
    console.log(`${describeResult(result)}\n  load average ${loadAverage()}`);
  }
  const drain = drainFault();
  const result = await runFault(deployment, load, FAULTS.length + 1, drain, phase);
  results.push(result);
  const summary = summarizeDrain(result, drain.measures!);
  drainLine = JSON.stringify(summary);
  console.log(`${describeResult(result)}\n  drain: ${drainLine}\n  load average ${loadAverage()}`);
  await load.close();
  load = undefined;
  const deadline = Date.now() + 60_000;
  while ((await clusterTotal(deployment, "switchyard_sessions_open")) > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(
    `after the clients left: sessions open ${await clusterTotal(deployment, "switchyard_sessions_open")}, ` +
      `room sockets ${await clusterTotal(deployment, "switchyard_room_sockets")}, ` +
      `registry ${JSON.stringify(await deployment.registryEntries())}, warnings ${JSON.stringify(deployment.warnings)}`,
  );
} finally {
  await load?.close();
  await deployment.close();
}
console.log(`\n${TABLE_HEADER}\n${results.map((r) => resultRow(r, clients)).join("\n")}`);
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ clients, timing, results, drain: drainLine }, null, 2));
console.log(`\ntotal ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(0);
