import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LATENCY_BOUNDS,
  LATENCY_OVERFLOW,
  emptyBackendWindow,
  emptyWindow,
  p99,
  runCheck,
  type BackendWindow,
  type WindowStats,
} from "../../src/rollout/gates.js";
import { validatePlan, type RolloutPlan } from "../../src/rollout/plan.js";

function plan(input: Record<string, unknown>): RolloutPlan {
  const result = validatePlan({ steps: [10, 100], interval: "1m", ...input });
  assert.ok(result.ok, result.ok ? "" : result.problems.join());
  return result.plan;
}

function side(patch: Partial<BackendWindow>): BackendWindow {
  return { ...emptyBackendWindow(), ...patch };
}

/** `count` connects that succeeded (the connect-latency histogram's count), all in its first bucket. */
const connected = (count: number): number[] => emptyBackendWindow().latency.map((_, i) => (i === 0 ? count : 0));

function stats(patch: Partial<WindowStats>): WindowStats {
  return { ...emptyWindow(60_000), ...patch };
}

describe("rollout gates", () => {
  it("judges the hub against legacy over the same interval, with a margin", () => {
    const p = plan({ minSessions: 100, gates: [{ gate: "connectErrorRate", margin: 0.02 }] });
    // Legacy piped: no connect outcomes published, so its rate is over its routing decisions.
    const legacy = side({ routed: 1000, connectErrors: 10 });
    const ok = runCheck(stats({ legacy, hub: side({ routed: 200, connectErrors: 5, latency: connected(195) }) }), p);
    assert.equal(ok.verdict, "pass");
    assert.deepEqual(
      ok.gates.map((gate) => [gate.name, gate.status, gate.value, gate.baseline, gate.limit]),
      [
        ["sessions", "pass", 200, undefined, 100],
        ["connectErrorRate", "pass", 0.025, 0.01, 0.03],
      ],
    );
    const bad = runCheck(stats({ legacy, hub: side({ routed: 200, connectErrors: 80, latency: connected(120) }) }), p);
    assert.equal(bad.verdict, "fail");
    assert.match(bad.reason, /connectErrorRate 0.4 > 0.03 \(legacy 0.01 \+ margin 0.02\)/);
    // The hub's rate is over its connect outcomes, not its routing decisions: sessions routed at the end of an
    // interval whose connects end in the next one say nothing yet (over decisions, a hub refusing everyone passes).
    const pending = runCheck(stats({ legacy, hub: side({ routed: 200 }) }), p);
    assert.equal(pending.verdict, "inconclusive");
    assert.match(pending.reason, /connectErrorRate: no samples/);
  });

  it("is inconclusive, and says why, below minSessions or minComparisons", () => {
    const p = plan({
      minSessions: 100,
      minComparisons: 50,
      gates: [
        { gate: "mismatchRate", max: 0.01 },
        { gate: "shortSessionRate", margin: 0.1 },
      ],
    });
    const thin = runCheck(
      stats({ legacy: side({ routed: 1000 }), hub: side({ routed: 20 }), shadow: { match: 10, mismatch: 0, missing: 0, extra: 0 } }),
      p,
    );
    assert.equal(thin.verdict, "inconclusive");
    assert.match(thin.reason, /hub sessions 20 < minSessions 100/);
    assert.match(thin.reason, /mismatchRate: 10 comparisons < minComparisons 50/);
    assert.match(thin.reason, /shortSessionRate: hub 20 sessions < minSessions 100/);
    // Nothing at all is never a pass.
    assert.equal(runCheck(emptyWindow(60_000), plan({ minSessions: 0, gates: [{ gate: "extraRate", max: 0.5 }] })).verdict, "inconclusive");
  });

  it("lets a failing gate fail the check even when another is inconclusive", () => {
    const p = plan({
      minSessions: 100,
      gates: [
        { gate: "fallbacksPerMinute", max: 5 },
        { gate: "upstreamCloseRate", margin: 0 },
      ],
    });
    const result = runCheck(stats({ durationMs: 30_000, legacy: side({ routed: 500 }), hub: side({ routed: 10, fallbacks: 10 }) }), p);
    assert.equal(result.verdict, "fail");
    assert.deepEqual(
      result.gates.map((gate) => [gate.name, gate.status, gate.value]),
      [
        ["sessions", "inconclusive", 10],
        ["fallbacksPerMinute", "fail", 20],
        ["upstreamCloseRate", "inconclusive", undefined],
      ],
    );
  });

  it("computes the shadow rates over every comparison of the interval", () => {
    const p = plan({
      minSessions: 0,
      minComparisons: 10,
      gates: [
        { gate: "mismatchRate", max: 0.05 },
        { gate: "missingRate", max: 0.2 },
      ],
    });
    const result = runCheck(stats({ shadow: { match: 80, mismatch: 10, missing: 5, extra: 5 } }), p);
    assert.deepEqual(
      result.gates.slice(1).map((gate) => [gate.name, gate.status, gate.value]),
      [
        ["mismatchRate", "fail", 0.1],
        ["missingRate", "pass", 0.05],
      ],
    );
  });

  it("compares connect latency p99 by histogram bucket, and reads PromQL values", () => {
    const latency = (bucket: number, count: number) =>
      Array.from({ length: LATENCY_BOUNDS.length + 1 }, (_, i) => (i === bucket ? count : 0));
    assert.equal(p99(latency(3, 100)), LATENCY_BOUNDS[3]);
    assert.equal(p99(latency(11, 1)), LATENCY_OVERFLOW);
    assert.equal(p99(latency(0, 0)), undefined);
    const p = plan({
      minSessions: 1,
      gates: [
        { gate: "connectLatencyP99", margin: 0.05 },
        { gate: "promql", name: "app-errors", query: "x", max: 3 },
      ],
    });
    const result = runCheck(
      stats({ legacy: side({ routed: 10, latency: latency(2, 10) }), hub: side({ routed: 10, latency: latency(6, 10) }) }),
      p,
      new Map([["app-errors", 1]]),
    );
    assert.deepEqual(
      result.gates.slice(1).map((gate) => [gate.name, gate.status]),
      [
        ["connectLatencyP99", "fail"],
        ["app-errors", "pass"],
      ],
    );
    const noAnswer = runCheck(
      stats({ legacy: side({ routed: 10 }), hub: side({ routed: 10 }) }),
      plan({ minSessions: 1, gates: [{ gate: "promql", query: "x", max: 3 }] }),
    );
    assert.equal(noAnswer.verdict, "inconclusive");
    assert.match(noAnswer.reason, /promql: no value \(the query returned no number\)/);
  });

  it("compares ack latency p99 (delivery through the backend) apart from connect latency", () => {
    const latency = (bucket: number, count: number) =>
      Array.from({ length: LATENCY_BOUNDS.length + 1 }, (_, i) => (i === bucket ? count : 0));
    const p = plan({
      minSessions: 1,
      gates: [
        { gate: "ackLatencyP99", margin: 0.02 },
        { gate: "connectLatencyP99", margin: 0.02 },
      ],
    });
    // Connect latency equal on both sides; the hub's acks come back slower: only the ack gate fails.
    const connect = latency(1, 10);
    const legacy = side({ routed: 10, latency: connect, ackLatency: latency(2, 200) });
    const slowHub = runCheck(stats({ legacy, hub: side({ routed: 10, latency: connect, ackLatency: latency(5, 200) }) }), p);
    assert.deepEqual(
      slowHub.gates.slice(1).map((gate) => [gate.name, gate.status, gate.value, gate.baseline, gate.limit]),
      [
        ["ackLatencyP99", "fail", LATENCY_BOUNDS[5], LATENCY_BOUNDS[2], LATENCY_BOUNDS[2]! + 0.02],
        ["connectLatencyP99", "pass", LATENCY_BOUNDS[1], LATENCY_BOUNDS[1], LATENCY_BOUNDS[1]! + 0.02],
      ],
    );
    assert.match(slowHub.reason, /^ackLatencyP99 0.25 > 0.045 \(legacy 0.025 \+ margin 0.02\)$/);
    // One slow ack in a hundred is under the p99 (the 99th of 100 is still in the fast bucket).
    const tail = latency(2, 99).map((count, i) => (i === 9 ? 1 : count));
    const fine = runCheck(stats({ legacy, hub: side({ routed: 10, latency: connect, ackLatency: tail }) }), p);
    assert.equal(fine.verdict, "pass");
    // No acked emits on one side: nothing to compare, inconclusive (not a pass by accident).
    const none = runCheck(stats({ legacy: side({ routed: 10, latency: connect }), hub: side({ routed: 10, latency: connect }) }), p);
    assert.deepEqual(
      none.gates.slice(1).map((gate) => [gate.name, gate.status]),
      [
        ["ackLatencyP99", "inconclusive"],
        ["connectLatencyP99", "pass"],
      ],
    );
    assert.match(none.reason, /ackLatencyP99: no samples/);
  });

  it("compares the hub's protocol error rate against legacy's with a margin", () => {
    const p = plan({ minSessions: 100, gates: [{ gate: "protocolErrorRate", margin: 0.01 }] });
    const legacy = side({ routed: 1000, opened: 1000, protocolErrors: 20 });
    const same = runCheck(stats({ legacy, hub: side({ routed: 200, opened: 200, protocolErrors: 5 }), protocolErrors: 25 }), p);
    assert.equal(same.verdict, "pass");
    assert.deepEqual([same.gates[1]!.value, same.gates[1]!.baseline, same.gates[1]!.limit], [0.025, 0.02, 0.03]);
    const worse = runCheck(stats({ legacy, hub: side({ routed: 200, opened: 200, protocolErrors: 40 }), protocolErrors: 60 }), p);
    assert.equal(worse.verdict, "fail");
    assert.match(worse.reason, /protocolErrorRate 0.2 > 0.03 \(legacy 0.02 \+ margin 0.01\)/);
    // Too few legacy sessions to compare with: inconclusive.
    const thin = runCheck(
      stats({ legacy: side({ routed: 5, opened: 5 }), hub: side({ routed: 200, opened: 200, protocolErrors: 40 }) }),
      p,
    );
    assert.equal(thin.verdict, "inconclusive");
    // The plan names a bad margin by its JSON path.
    const invalid = validatePlan({
      steps: [10],
      interval: "1m",
      gates: [{ gate: "ackLatencyP99" }, { gate: "protocolErrorRate", margin: -1 }],
    });
    assert.ok(!invalid.ok);
    assert.deepEqual(
      invalid.problems.filter((problem) => problem.startsWith("gates[")).map((problem) => problem.split(":")[0]),
      ["gates[0].margin", "gates[1].margin"],
    );
  });
});
