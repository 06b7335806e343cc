/** Window counters: telemetry events counted into the window they happen in, flushed, retried after a failed flush. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { publish } from "../../src/telemetry/events.js";
import {
  MemoryCounterStore,
  WindowCounters,
  latencyBucket,
  statsOf,
  type CounterStore,
  type Counts,
} from "../../src/rollout/window-counters.js";

describe("rollout window counters", () => {
  it("counts each backend's routes, failures, short sessions and latency into the current window", async () => {
    let now = 10_500;
    const store = new MemoryCounterStore();
    const counters = new WindowCounters(store, () => now);
    try {
      counters.countFor({ rolloutId: "r1", intervalMs: 1000, shortSessionMs: 5000 });
      publish("switchyard:route:decided", { backend: "hub", reason: "split" });
      publish("switchyard:route:decided", { backend: "hub", reason: "split" });
      publish("switchyard:upstream:failed", { backend: "hub", role: "primary", code: "SWY_ERR_UPSTREAM_REJECTED", seconds: 0.01 });
      publish("switchyard:upstream:failed", { backend: "hub", role: "shadow", code: "SWY_ERR_UPSTREAM_REJECTED", seconds: 0.01 });
      publish("switchyard:hub:fallback", { code: "SWY_ERR_HUB_UNAVAILABLE" });
      publish("switchyard:upstream:connected", { backend: "legacy", role: "primary", seconds: 0.03 });
      publish("switchyard:ack:latency", { backend: "hub", seconds: 0.2 });
      publish("switchyard:ack:latency", { backend: "legacy", seconds: 0.004 });
      publish("switchyard:protocol:error", { code: "SWY_ERR_PROTOCOL_MALFORMED", backend: "hub" });
      publish("switchyard:protocol:error", { code: "SWY_ERR_PROTOCOL_MALFORMED", backend: "hub" });
      publish("switchyard:protocol:error", { code: "SWY_ERR_PROTOCOL_MALFORMED", backend: undefined });
      const closed = { sessionId: "s", backend: "hub", mode: "terminate", transport: "websocket", code: undefined } as const;
      publish("switchyard:session:closed", { ...closed, reason: "upstream closed", durationMs: 100 });
      publish("switchyard:session:closed", { ...closed, reason: "drained", durationMs: 100 });
      publish("switchyard:session:closed", { ...closed, reason: "client closed", durationMs: 60_000 });
      now = 11_200; // the next window
      publish("switchyard:shadow:comparison", { result: "mismatch", event: "msg", delaySeconds: undefined, reordered: false });
      await counters.flush();
      const first = await counters.read("r1", 10, 1000);
      assert.deepEqual(
        [first.hub.routed, first.hub.connectErrors, first.hub.fallbacks, first.hub.upstreamCloses, first.hub.ended, first.hub.short],
        [2, 1, 1, 1, 2, 1],
      );
      assert.equal(first.legacy.latency[latencyBucket(0.03)], 1);
      assert.deepEqual([first.hub.ackLatency[latencyBucket(0.2)], first.legacy.ackLatency[latencyBucket(0.2)]], [1, 0]);
      assert.equal(first.legacy.ackLatency[latencyBucket(0.004)], 1);
      assert.deepEqual([first.protocolErrors, first.hub.protocolErrors, first.legacy.protocolErrors], [3, 2, 0]);
      assert.equal(first.shadow.mismatch, 0);
      assert.equal((await counters.read("r1", 11, 1000)).shadow.mismatch, 1);
      // Not counting when no rollout is active.
      counters.countFor(undefined);
      publish("switchyard:route:decided", { backend: "hub", reason: "split" });
      await counters.flush();
      assert.equal((await counters.read("r1", 11, 1000)).hub.routed, 0);
    } finally {
      counters.close();
    }
  });

  it("keeps the counts of a failed flush for the next one", async () => {
    const memory = new MemoryCounterStore();
    let failing = true;
    const flaky: CounterStore = {
      add: async (id: string, window: number, counts: Counts, ttl: number) => {
        if (failing) throw new Error("Redis is down");
        await memory.add(id, window, counts);
        void ttl;
      },
      read: (id, window) => memory.read(id, window),
    };
    const counters = new WindowCounters(flaky, () => 5_000);
    try {
      counters.countFor({ rolloutId: "r2", intervalMs: 1000, shortSessionMs: 1000 });
      publish("switchyard:route:decided", { backend: "legacy", reason: "split" });
      await counters.flush();
      publish("switchyard:route:decided", { backend: "legacy", reason: "split" });
      failing = false;
      await counters.flush();
      assert.equal((await counters.read("r2", 5, 1000)).legacy.routed, 2);
    } finally {
      counters.close();
    }
  });

  it("treats malformed hash fields as 0", () => {
    const stats = statsOf({ "hub.routed": "12", "hub.opened": "-3", "legacy.routed": "x", "shadow.match": "1.5" }, 1000);
    assert.deepEqual([stats.hub.routed, stats.hub.opened, stats.legacy.routed, stats.shadow.match], [12, 0, 0, 0]);
  });
});
