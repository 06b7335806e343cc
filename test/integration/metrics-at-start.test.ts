/**
 * Issue 11 item 7: a fresh gateway exports every counter with a known, bounded label set at 0, so that
 * dashboards and rate()-based alerts see the first error rather than "no data" until then. The series are the
 * catalog's (src/ops/metric-catalog.ts zeroSeries); the test reads them from a real gateway's /metrics before it
 * has carried any traffic, and checks that the failure counters operators alert on are among them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ERROR_CATALOG } from "../../src/errors.js";
import { CATALOG, SWITCHYARD_METRICS } from "../../src/ops/metric-catalog.js";
import { parseMetrics, type MetricSample } from "../helpers/shadow-probe.js";
import { startStack, type Stack } from "../helpers/stack.js";

function find(samples: readonly MetricSample[], name: string, labels: Readonly<Record<string, string>>): MetricSample | undefined {
  return samples.find(
    (s) =>
      s.name === name &&
      Object.keys(labels).length + 1 === Object.keys(s.labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

const M = SWITCHYARD_METRICS;

describe("counters at start-up", () => {
  let stack: Stack;
  let samples: MetricSample[];
  before(async () => {
    stack = await startStack({ hub: true, routing: { hubPercent: 50 } });
    samples = parseMetrics(await (await fetch(`${stack.switchyard.opsUrl}/metrics`)).text());
  });
  after(async () => {
    await stack.close();
  });

  it("exports every zero series of the catalog, at 0, before any traffic", () => {
    let checked = 0;
    for (const spec of CATALOG) {
      for (const labels of spec.zeroSeries ?? []) {
        const sample = find(samples, spec.name, labels);
        assert.ok(sample, `${spec.name}${JSON.stringify(labels)} is exported`);
        assert.equal(sample.value, 0, `${spec.name}${JSON.stringify(labels)}`);
        checked++;
      }
    }
    assert.ok(checked > 90, `${checked} series checked`);
  });

  it("covers the failure counters alerts are written on, for every code they can carry", () => {
    const m = M;
    const protocolCodes = Object.keys(ERROR_CATALOG).filter((code) => code.startsWith("SWY_ERR_PROTOCOL_"));
    for (const code of protocolCodes) assert.ok(find(samples, m.protocolErrors.name, { code }), `protocol errors ${code}`);
    for (const code of ["SWY_ERR_DRAINING", "SWY_ERR_UPSTREAM_UNREACHABLE", "SWY_ERR_UPSTREAM_TIMEOUT", "SWY_ERR_QUEUE_OVERFLOW"])
      assert.ok(find(samples, m.handshakesRefused.name, { code }), `handshakes refused ${code}`);
    for (const backend of ["legacy", "hub"])
      for (const role of ["primary", "shadow"])
        assert.ok(
          find(samples, m.upstreamErrors.name, { backend, role, code: "SWY_ERR_UPSTREAM_REJECTED" }),
          `upstream errors ${backend}/${role}`,
        );
    assert.ok(find(samples, m.hubFallbacks.name, { code: "SWY_ERR_UPSTREAM_UNREACHABLE" }));
    for (const boundary of ["client", "backend", "shadow", "request", "admin", "store"])
      assert.ok(find(samples, m.containedErrors.name, { boundary, code: "SWY_ERR_INTERNAL" }), `contained ${boundary}`);
    assert.ok(find(samples, m.uncaughtErrors.name, { kind: "uncaughtException" }));
    assert.ok(find(samples, m.routingDecisions.name, { backend: "hub", reason: "split" }));
  });

  it("declares zero series for every catalog counter whose label values are a closed set", () => {
    // Open (but bounded) sets: close reasons x codes, application event names, room worlds (room-metrics.ts).
    const open = new Set([
      M.sessionsClosed.name,
      M.shadowComparisons.name,
      M.roomBroadcasts.name,
      M.roomDeliveries.name,
      M.bridgePublishFailures.name,
      M.bridgeMalformed.name,
    ]);
    const missing = CATALOG.filter((spec) => spec.type === "counter" && !open.has(spec.name) && (spec.zeroSeries ?? []).length === 0);
    assert.deepEqual(
      missing.map((spec) => spec.name),
      [],
    );
  });
});
