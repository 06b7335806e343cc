import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderChart } from "../../bench/chart.js";
import { joinResults } from "../../bench/chart-join.js";
import { parseOptions } from "../../bench/options.js";
import type { BenchResult, SetupResult } from "../../bench/report.js";
import { formatStorms, formatSweep } from "../../bench/report-sweep.js";
import type { StormResult } from "../../bench/storm.js";

function setup(id: string, name: string, clients: number, cpuPer1k: number, ok = true): SetupResult {
  const latency = { samples: 10, min: 0.2, p50: 1, p90: 3, p99: 20, p999: 50, max: 80, mean: 2 };
  return {
    id,
    name,
    ok,
    clients: { requested: clients, joined: clients, failed: 0, connectSeconds: 1 },
    windowSeconds: 30,
    sentInWindow: 100,
    expectedDeliveries: 1000,
    delivered: 1000,
    latencyMs: latency,
    latencyTimeline: [],
    processes: [
      {
        label: "front",
        role: "front",
        cpuSeconds: 1,
        runQueueWaitShare: 0,
        cpuSecondsPer1kDelivered: cpuPer1k,
        rssIdleBytes: 0,
        rssLoadBytes: 0,
        rssPerSessionBytes: 30 * 1024,
      },
    ],
    loadgen: { count: 2, maxEventLoopUtilization: 0, maxSendLagP99Ms: 0, maxSendLagMs: 0 },
    hostBusyCores: 1,
    benchBusyCores: 1,
    errors: {},
    disconnects: {},
  };
}

const storm = (id: string, name: string, p99: number): StormResult => ({
  id,
  name,
  ok: true,
  requested: 5000,
  joined: 4990,
  failed: 10,
  gaveUp: 10,
  retries: 42,
  seconds: 12,
  handshakeMs: { samples: 4990, min: 1, p50: 4, p90: 9, p99, p999: p99, max: p99, mean: 5 },
  cpuSeconds: 3,
  loadgenCpuSeconds: 4,
  hostBusyCores: 1.5,
  errors: {},
});

const result: BenchResult = {
  startedAt: "2026-11-30T10:00:00.000Z",
  options: {},
  host: { cpus: 2, node: "v20", fdLimitNote: "" },
  runs: [
    { clients: 1000, rooms: 100, rate: 1000, setups: [setup("terminate", "switchyard <terminate> & co", 1000, 0.05)] },
    {
      clients: 5000,
      rooms: 500,
      rate: 5000,
      setups: [setup("terminate", "switchyard <terminate> & co", 5000, 0.06), setup("shadow", "shadowed", 5000, 0.1, false)],
    },
  ],
  storms: [
    storm("direct", "legacy direct", 40),
    { ...storm("terminate", "switchyard <terminate> & co", 120), frontRunQueueWaitSeconds: 7.25, listenOverflows: 1308 },
  ],
};

describe("bench chart and sweep tables", () => {
  it("renders every setup and N of a sweep, escaped, and the storm, as one SVG", () => {
    const svg = renderChart(result);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<\/svg>/g)?.length, 1);
    assert.ok(!svg.includes("<terminate>"), "names are escaped");
    assert.ok(svg.includes("switchyard &lt;terminate&gt; &amp; co, N=1,000"));
    assert.ok(svg.includes("switchyard &lt;terminate&gt; &amp; co, N=5,000"));
    assert.ok(!svg.includes("shadowed, N=5,000"), "a failed setup has no latency row");
    assert.ok(svg.includes("Connection storm (5,000 clients)"));
    for (const value of ["0.050", "0.060", "30"]) assert.ok(svg.includes(`>${value}</text>`), `bar value ${value}`);
  });

  it("tabulates cost per N and the storm beside legacy direct", () => {
    const sweep = formatSweep(result.runs);
    assert.match(sweep, /N=1,000 joined.*N=5,000 joined/);
    assert.match(sweep, /switchyard <terminate> & co\s+1,000\s+0\.0500\s+30\.0\s+20\.0\s+5,000\s+0\.0600/);
    assert.match(sweep, /shadowed\s+–\s+–\s+–\s+–\s+5,000\s+–/);
    const storms = formatStorms(result.storms);
    assert.match(storms, /all settled s\s+front CPU s\s+loadgen CPU s\s+host busy cores\s+front CPU wait s\s+listen overflows\n/);
    assert.match(storms, /switchyard <terminate> & co\s+4,990\/5,000\s+10\s+42\s+4\.00\s+120\.0\s+120\.0\s+1\.00×\s+3\.00×/);
    // A storm measured before the wait and overflow columns existed shows dashes, not zeros.
    assert.match(storms, /legacy direct .*1\.50\s+–\s+–\n/);
    assert.match(storms, /switchyard <terminate> & co .*1\.50\s+7\.25\s+1,308$/);
  });

  it("parses a sweep into one run per N and a storm", () => {
    const plan = parseOptions(["--clients", "1000,5000", "--storm", "3000", "--storm-window", "5", "--setups", "direct,switchyard-shadow"]);
    assert.deepEqual(
      plan.runs.map((r) => [r.clients, r.rooms, r.rate, r.loadgens]),
      [
        [1000, 100, 1000, 2],
        [5000, 500, 5000, 4],
      ],
    );
    assert.deepEqual(plan.storm, { clients: 3000, windowSeconds: 5, attempts: 5, loadgens: 3 });
    assert.deepEqual(plan.setups, ["direct", "switchyard-shadow"]);
    assert.deepEqual(parseOptions(["--storm", "10", "--storm-only"]).runs, []);
    assert.throws(() => parseOptions(["--clients", "1000,x"]), /--clients must be a number/);
  });

  it("joins saved results: a sweep's runs and another run's storms on one chart", () => {
    const sweep: BenchResult = { ...result, storms: [] };
    const storms: BenchResult = { ...result, startedAt: "2026-11-30T11:00:00.000Z", runs: [] };
    const joined = joinResults([sweep, storms]);
    assert.deepEqual(
      joined.runs.map((run) => run.clients),
      [1000, 5000],
    );
    assert.deepEqual(
      joined.storms.map((s) => s.id),
      ["direct", "terminate"],
    );
    assert.deepEqual(joined.options, { joined: [result.startedAt, "2026-11-30T11:00:00.000Z"] });
    const svg = renderChart(joined);
    assert.ok(svg.includes("switchyard &lt;terminate&gt; &amp; co, N=5,000") && svg.includes("Connection storm (5,000 clients)"));
    assert.throws(() => joinResults([]), /no results/);
  });
});
