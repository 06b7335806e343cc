/**
 * WORKERS > 1: the primary merges its workers' registries into the instance's /metrics. Every catalog gauge
 * has a deliberate merge; counters and histograms are summed per label set; real prom-client registries.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CATALOG, SWITCHYARD_METRICS } from "../../src/ops/metric-catalog.js";
import { createMetrics } from "../../src/ops/metrics.js";
import { createPrimaryMetrics, GAUGE_MERGE } from "../../src/ops/worker-metrics.js";
import { parseMetrics } from "../helpers/shadow-probe.js";

test("every catalog gauge has a merge across workers, and only gauges do", () => {
  for (const entry of CATALOG) {
    if (entry.type === "gauge") assert.ok(GAUGE_MERGE[entry.name] !== undefined, `${entry.name} has no merge in GAUGE_MERGE`);
  }
  for (const name of Object.keys(GAUGE_MERGE)) assert.equal(CATALOG.find((entry) => entry.name === name)?.type, "gauge", name);
});

test("the workers' registries merge: sessions and counters summed, the config version the highest, restarts counted", async () => {
  const worker = (open: number, version: number) =>
    createMetrics(
      {
        sessionCounts: () => ({ legacy: { polling: open, websocket: 1 }, hub: { polling: 0, websocket: 0 } }),
        routing: () => ({ hubPercent: 50, version }),
        store: () => ({ kind: "redis", connected: version > 4 }),
      },
      "instance-a",
    );
  const [one, two] = [worker(2, 4), worker(3, 5)];
  const primary = createPrimaryMetrics("instance-a");
  try {
    primary.workerRestarted();
    const text = await primary.render([await one.registry.getMetricsAsJSON(), await two.registry.getMetricsAsJSON()]);
    const samples = parseMetrics(text);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    const M = SWITCHYARD_METRICS;
    assert.equal(value(M.sessionsOpen.name, { backend: "legacy", transport: "polling" }), 5);
    assert.equal(value(M.sessionsOpen.name, { backend: "legacy", transport: "websocket" }), 2);
    assert.equal(value(M.routingConfigVersion.name), 5);
    assert.equal(value(M.routingHubPercent.name), 50);
    assert.equal(value(M.storeUp.name, { store: "redis" }), 0);
    assert.equal(value(M.workerRestarts.name), 1);
    assert.equal(value(M.sessionsOpened.name, { backend: "hub", protocol: "4", mode: "terminate", shadowed: "false" }), 0);
    for (const sample of samples) assert.equal(sample.labels.instance_id, "instance-a", `${sample.name} keeps the instance's name`);
  } finally {
    one.close();
    two.close();
    primary.close();
  }
});
