/** Drains of moved buckets (DrainRunner.startMoved): only sessions split-routed into the range, spaced by the rate cap. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { Backend } from "../../src/domain.js";
import type { BucketRange } from "../../src/downstream/gateway.js";
import { DrainRunner, type GatewayControl } from "../../src/ops/drain-runner.js";
import { eventually } from "../helpers/eventually.js";

class BucketGateway implements GatewayControl {
  readonly closes: { at: number; bucket: number | undefined }[] = [];

  constructor(public sessions: { backend: Backend; bucket: number | undefined }[]) {}

  sessionCounts() {
    const count = (backend: Backend) => this.sessions.filter((s) => s.backend === backend).length;
    return { legacy: { polling: 0, websocket: count("legacy") }, hub: { polling: 0, websocket: count("hub") } };
  }

  private inRange(bucket: number | undefined, range: BucketRange): boolean {
    return bucket !== undefined && bucket >= range.from && bucket < range.to;
  }

  countInBuckets(backend: Backend, range: BucketRange): number {
    return this.sessions.filter((s) => s.backend === backend && this.inRange(s.bucket, range)).length;
  }

  closeSessions(backend: Backend, count: number, _reason: unknown, range?: BucketRange): number {
    let closed = 0;
    this.sessions = this.sessions.filter((s) => {
      if (closed >= count || s.backend !== backend || (range !== undefined && !this.inRange(s.bucket, range))) return true;
      closed++;
      this.closes.push({ at: Date.now(), bucket: s.bucket });
      return false;
    });
    return closed;
  }
}

describe("drains of moved buckets", () => {
  it("closes only the sessions of the backend whose split bucket moved, spaced by maxRate, across overlapping drains", async () => {
    const sessions = [
      ...Array.from({ length: 10 }, (_, i) => ({ backend: "legacy" as const, bucket: 1000 + i })), // moved by 10 → 25 %
      ...Array.from({ length: 5 }, (_, i) => ({ backend: "legacy" as const, bucket: 3000 + i })), // moved by 25 → 50 %
      { backend: "legacy" as const, bucket: 9000 }, // never moved
      { backend: "legacy" as const, bucket: undefined }, // routed by a list or an override
      { backend: "hub" as const, bucket: 1500 }, // already on the hub
    ];
    const gateway = new BucketGateway(sessions);
    const runner = new DrainRunner(gateway, pino({ level: "silent" }));
    const common = { backend: "legacy" as const, windowMs: 0, jitter: 0.5, maxRate: 100 };
    const first = runner.startMoved({ ...common, id: "step-2", buckets: { from: 1000, to: 2500 } });
    const second = runner.startMoved({ ...common, id: "step-3", buckets: { from: 2500, to: 5000 } });
    assert.deepEqual([first.target, second.target], [10, 5]);
    await eventually(() => runner.list().every((drain) => drain.done), "both drains to finish");
    assert.deepEqual(
      gateway.closes.map((c) => c.bucket).sort(),
      [...Array.from({ length: 10 }, (_, i) => 1000 + i), ...Array.from({ length: 5 }, (_, i) => 3000 + i)].sort(),
    );
    assert.deepEqual(
      gateway.sessions.map((s) => s.bucket),
      [9000, undefined, 1500],
    );
    // Both drains together kept to the cap: 10 ms between closes (1 ms for the timers' rounding).
    const gaps = gateway.closes.slice(1).map((c, i) => c.at - gateway.closes[i]!.at);
    assert.ok(Math.min(...gaps) >= 9, `gaps ${gaps.join(", ")}`);
    runner.stop();
  });

  it("has nothing to do when no session is in the range", () => {
    const runner = new DrainRunner(new BucketGateway([{ backend: "hub", bucket: 10 }]), pino({ level: "silent" }));
    const progress = runner.startMoved({
      id: "x",
      backend: "hub",
      buckets: { from: 5000, to: 10_000 },
      windowMs: 1000,
      jitter: 0,
      maxRate: 1,
    });
    assert.deepEqual([progress.target, progress.done], [0, true]);
    runner.stop();
  });
});
