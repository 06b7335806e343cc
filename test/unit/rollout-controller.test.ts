/**
 * The rollout controller on one instance without Redis (the memory store, the in-process lease and counters),
 * on a clock the test moves: it judges each interval once it is over, steps, drains the moved buckets, rolls
 * back on failures, and takes the operator's commands. PromQL gates against a tiny local Prometheus API.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { Backend } from "../../src/domain.js";
import { DrainRunner } from "../../src/ops/drain-runner.js";
import { RolloutController } from "../../src/rollout/controller.js";
import { LocalLease } from "../../src/rollout/lease.js";
import { validatePlan } from "../../src/rollout/plan.js";
import { queryPromql } from "../../src/rollout/promql.js";
import { MemoryCounterStore, WindowCounters } from "../../src/rollout/window-counters.js";
import { MemoryRoutingStore } from "../../src/store/memory-store.js";
import { publish } from "../../src/telemetry/events.js";
import { eventually } from "../helpers/eventually.js";

const INTERVAL = 1000;
const actor = { address: "127.0.0.1", identity: "test" };

function setup() {
  // Mid-interval, so that after each `interval()` the one just filled is over (past the controller's grace) and judged.
  let now = 100 * INTERVAL + 500;
  const logger = pino({ level: "silent" });
  const store = new MemoryRoutingStore({ instanceId: "solo", logger });
  const sessions: { backend: Backend; bucket: number }[] = Array.from({ length: 100 }, (_, i) => ({ backend: "legacy", bucket: i * 100 }));
  const closed: number[] = [];
  const control = {
    sessionCounts: () => ({ legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } }),
    countInBuckets: (backend: Backend, r: { from: number; to: number }) =>
      sessions.filter((s) => s.backend === backend && s.bucket >= r.from && s.bucket < r.to).length,
    closeSessions(backend: Backend, count: number, _reason: unknown, r?: { from: number; to: number }) {
      const picked = sessions
        .filter((s) => s.backend === backend && r !== undefined && s.bucket >= r.from && s.bucket < r.to)
        .slice(0, count);
      for (const s of picked) {
        closed.push(s.bucket);
        // The client reconnects and is routed by the current weight.
        s.backend = s.bucket < store.current().hubPercent * 100 ? "hub" : "legacy";
      }
      return picked.length;
    },
  };
  const drains = new DrainRunner(control, logger);
  const counters = new WindowCounters(new MemoryCounterStore(), () => now);
  const controller = new RolloutController({ store, drains, counters, lease: new LocalLease("solo"), logger, tickMs: 5, now: () => now });
  /** Traffic of one interval (hub connects failing or not), then the clock moves past its end. */
  const interval = async (hubFails: boolean) => {
    for (let i = 0; i < 10; i++) {
      for (const backend of ["legacy", "hub"] as const) {
        publish("switchyard:route:decided", { backend, reason: "split" });
        if (backend === "hub" && hubFails)
          publish("switchyard:upstream:failed", { backend, role: "primary", code: "SWY_ERR_UPSTREAM_REJECTED", seconds: 0.01 });
        else if (backend === "hub") publish("switchyard:upstream:connected", { backend, role: "primary", seconds: 0.01 });
      }
    }
    await counters.flush();
    now += INTERVAL;
  };
  const close = async () => {
    await controller.close();
    counters.close();
    drains.stop();
    await store.close();
  };
  return { store, controller, interval, closed, sessions, close, at: () => now };
}

const PLAN = { steps: [10, 50, 100], interval: "1s", threshold: 2, minSessions: 5, gates: [{ gate: "connectErrorRate", margin: 0.1 }] };

describe("rollout controller (one instance, no Redis)", () => {
  it("steps through the plan on passing intervals, draining only the moved buckets, and is promoted", async () => {
    const t = setup();
    try {
      await t.controller.start(PLAN, actor);
      assert.equal(t.store.current().hubPercent, 10);
      await eventually(() => t.closed.length === 10, "the 0-10 % buckets drained");
      assert.deepEqual(
        [...t.closed].sort((a, b) => a - b),
        Array.from({ length: 10 }, (_, i) => i * 100),
      );
      // The step was taken mid-interval: the next interval is the first judged.
      await t.interval(false);
      await t.interval(false);
      await eventually(() => t.store.current().hubPercent === 50, "the 50 % step");
      await eventually(() => t.closed.length === 50, "the 10-50 % buckets drained");
      await t.interval(false);
      await t.interval(false);
      await eventually(() => t.store.current().rollout?.state.phase === "promoted", "promotion");
      assert.equal(t.store.current().hubPercent, 100);
      const audit = await t.store.recentAudit(20);
      assert.deepEqual(audit.map((entry) => entry.action).reverse(), ["rollout.start", "rollout.check", "rollout.check"]);
      assert.match(audit[0]!.changes[0]!, /^step 2 → 3 \(50% → 100%\), promoted: all 2 checks passed/);
      assert.ok(audit[0]!.changes.includes("pass: connectErrorRate 0 ≤ 0.1 (legacy 0 + margin 0.1)"));
    } finally {
      await t.close();
    }
  });

  it("rolls back after threshold failing intervals and drains the hub's moved buckets back", async () => {
    const t = setup();
    try {
      await t.controller.start(PLAN, actor);
      await t.interval(true);
      await t.interval(true);
      await eventually(() => t.store.current().rollout?.state.failedChecks === 1, "a first failed check");
      await t.interval(true);
      await eventually(() => t.store.current().rollout?.state.phase === "rolled-back", "the rollback");
      assert.equal(t.store.current().hubPercent, 0);
      await eventually(() => t.sessions.every((s) => s.backend === "legacy"), "every moved session back on legacy");
      const status = await t.controller.status();
      assert.equal(status.nextCheckAt, undefined);
      await assert.rejects(t.controller.command("pause", actor), { code: "SWY_ERR_ROLLOUT_NONE" });
    } finally {
      await t.close();
    }
  });

  it("takes the operator's commands and refuses a second rollout while one is active", async () => {
    const t = setup();
    try {
      await t.controller.start(PLAN, actor);
      await assert.rejects(t.controller.start(PLAN, actor), { code: "SWY_ERR_ROLLOUT_ACTIVE" });
      await assert.rejects(t.controller.start({ steps: [], interval: "1s" }, actor), { code: "SWY_ERR_ROUTING_INVALID" });
      assert.equal((await t.controller.command("pause", actor)).changed, true);
      // Paused: intervals pass, nothing moves.
      await t.interval(false);
      await t.interval(false);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual([t.store.current().rollout?.state.phase, t.store.current().hubPercent], ["paused", 10]);
      await t.controller.command("resume", actor);
      assert.equal((await t.controller.command("promote-full", actor)).summary, "promoted: 10% → 100% by the operator");
      assert.equal(t.store.current().hubPercent, 100);
    } finally {
      await t.close();
    }
  });
});

describe("PromQL gates", () => {
  it("read one number from Prometheus's query API; anything else is no value", async () => {
    const answers: Record<string, unknown> = {
      vector: { status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [1, "2.5"] }] } },
      scalar: { status: "success", data: { resultType: "scalar", result: [1, "7"] } },
      empty: { status: "success", data: { resultType: "vector", result: [] } },
      nan: { status: "success", data: { resultType: "scalar", result: [1, "NaN"] } },
    };
    const server = createServer((req, res) => {
      const query = new URL(req.url ?? "/", "http://x").searchParams.get("query") ?? "";
      const body = answers[query];
      res
        .writeHead(body === undefined ? 400 : 200, { "content-type": "application/json" })
        .end(JSON.stringify(body ?? { status: "error" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const plan = validatePlan({
        steps: [100],
        interval: "1s",
        gates: ["vector", "scalar", "empty", "nan", "broken"].map((query) => ({ gate: "promql", name: query, query, max: 1 })),
      });
      assert.ok(plan.ok);
      const values = await queryPromql(url, plan.plan.gates);
      assert.deepEqual(Object.fromEntries(values), { vector: 2.5, scalar: 7, empty: undefined, nan: undefined, broken: undefined });
      assert.deepEqual(Object.fromEntries(await queryPromql(undefined, plan.plan.gates.slice(0, 1))), { vector: undefined });
    } finally {
      server.close();
    }
  });
});
