/**
 * Soak (`npm run soak -- --minutes N`; not in CI, run it under the heavy lock): the load deployment of
 * the fault tests (two gateway processes, the legacy node and the hub on the Redis room bridge, a 50 %
 * split, clients of every generation in rooms across both backends) for N minutes, with the legacy
 * backend, the hub and Redis restarted in turn every --fault-every-s seconds. Every --sample-s seconds it
 * records each gateway's RSS, open descriptors and event-loop lag (p99) and the deliveries the clients
 * received, prints them, and at the end draws them as an SVG (scripts/soak-chart.ts) and checks that
 * the healthy side of every restart lost nothing and that the gateways forget every session afterwards.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Deployment, total } from "../test/helpers/load/deployment.js";
import { clusterTotal, FAULTS, runFault, type Fault, type PhaseResult } from "../test/helpers/load/faults.js";
import { LoadClients } from "../test/helpers/load/load-clients.js";
import { loadAverage } from "../test/helpers/load/fault-table.js";
import { soakChart, type SoakSample } from "./soak-chart.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    clients: { type: "string", default: "300" },
    "fault-every-s": { type: "string", default: "120" },
    "sample-s": { type: "string", default: "10" },
    "period-ms": { type: "string", default: "2000" },
    out: { type: "string", default: "docs/images/soak.svg" },
  },
});
const minutes = Number(values.minutes);
const clients = Number(values.clients);
const sampleMs = Number(values["sample-s"]) * 1000;
const faultEveryMs = Number(values["fault-every-s"]) * 1000;
const byName = (name: string) => FAULTS.find((f) => f.name.startsWith(name))!;
// Backend and Redis restarts, in turn: the gateways themselves stay up, so their curves are continuous.
const ROTATION: readonly Fault[] = [byName("legacy killed"), byName("hub killed"), byName("Redis")];
const timing = { redisOutageMs: 10_000, stallMs: 0 };

const started = Date.now();
const deployment = await Deployment.start();
const load = await LoadClients.start(deployment.url, clients, { processes: 2, periodMs: Number(values["period-ms"]) });
await deployment.nodesSubscribed(3);
const samples: SoakSample[] = [];
const events: { atMs: number; label: string }[] = [];
let lastDelivered = (await load.status()).delivered;
let lastAt = Date.now();

async function sample(): Promise<void> {
  const status = await load.status();
  const now = Date.now();
  const gateways = await Promise.all(
    [0, 1].map(async (i) => {
      const m = await deployment.metrics(i);
      return {
        rssMb: total(m, "process_resident_memory_bytes") / 2 ** 20,
        fds: total(m, "process_open_fds"),
        lagMs: total(m, "nodejs_eventloop_lag_p99_seconds") * 1000,
        sessions: total(m, "switchyard_sessions_open"),
      };
    }),
  );
  const deliveriesPerS = ((status.delivered - lastDelivered) * 1000) / (now - lastAt);
  lastDelivered = status.delivered;
  lastAt = now;
  const s: SoakSample = { atMs: now - started, gateways, deliveriesPerS, up: status.up };
  samples.push(s);
  const g = gateways
    .map((x, i) => `gw-${i} ${x.rssMb.toFixed(0)} MB ${x.fds} fds ${x.lagMs.toFixed(0)} ms ${x.sessions} sessions`)
    .join(" | ");
  console.log(`${(s.atMs / 60_000).toFixed(1)} min: ${g} | ${deliveriesPerS.toFixed(0)} deliveries/s, ${status.up}/${clients} up`);
}

const sampler = setInterval(() => void sample().catch((error: Error) => console.log(`sample failed: ${error.message}`)), sampleMs);
const results: PhaseResult[] = [];
const end = started + minutes * 60_000;
for (let n = 1; Date.now() + faultEveryMs < end; n++) {
  const fault = ROTATION[(n - 1) % ROTATION.length]!;
  // The fault comes at the end of each period: leadMs is the quiet (healthy) time before it.
  const leadMs = Math.max(1000, faultEveryMs - 20_000);
  events.push({ atMs: Date.now() + leadMs - started, label: fault.name.split(" ")[0]! });
  const result = await runFault(deployment, load, n, fault, { timing, leadMs, settleMs: 2000, backTimeoutMs: 120_000 });
  results.push(result);
  console.log(
    `${fault.name}: back in ${result.backMs} ms, ${result.report.disconnected} disconnected, healthy lost ${result.healthyLost}, ` +
      `duplicates ${result.healthyDuplicates}; load average ${loadAverage()}`,
  );
}
// Traffic again until the end (each fault's phase ends quiet).
await load.phase(results.length + 1);
while (Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 1000));
clearInterval(sampler);
await sample();
await load.close();
const deadline = Date.now() + 60_000;
while ((await clusterTotal(deployment, "switchyard_sessions_open")) > 0 && Date.now() < deadline)
  await new Promise((resolve) => setTimeout(resolve, 1000));
const left = await clusterTotal(deployment, "switchyard_sessions_open");
const registry = await deployment.registryEntries();
await deployment.close();

const lost = results.reduce((n, r) => n + r.healthyLost, 0);
const duplicates = results.reduce((n, r) => n + r.healthyDuplicates, 0);
const title = `Soak: ${minutes} min, ${clients} clients, ${results.length} restarts (legacy, hub, Redis in turn)`;
writeFileSync(values.out, soakChart(title, samples, events));
writeFileSync(values.out.replace(/\.svg$/, ".json"), JSON.stringify({ title, samples, events, results }, null, 1));
const first = samples[0]!;
const last = samples.at(-1)!;
console.log(`\n${title}`);
for (const i of [0, 1]) {
  const series = samples.map((s) => s.gateways[i]!);
  console.log(
    `gw-${i}: RSS ${first.gateways[i]!.rssMb.toFixed(0)} → ${last.gateways[i]!.rssMb.toFixed(0)} MB ` +
      `(max ${Math.max(...series.map((x) => x.rssMb)).toFixed(0)}), fds ${first.gateways[i]!.fds} → ${last.gateways[i]!.fds} ` +
      `(max ${Math.max(...series.map((x) => x.fds))}), event-loop lag p99 max ${Math.max(...series.map((x) => x.lagMs)).toFixed(0)} ms`,
  );
}
console.log(`healthy side: ${lost} lost, ${duplicates} duplicated over ${results.length} restarts`);
console.log(`after the clients left: ${left} sessions open, registry ${JSON.stringify(registry)}`);
console.log(`chart: ${values.out}`);
process.exit(lost === 0 && duplicates === 0 && left === 0 ? 0 : 1);
