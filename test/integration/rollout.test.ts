/**
 * Progressive rollout across two real gateway processes on the real Redis, with the sample hub (healthy)
 * and steady handshake traffic: an inconclusive rollout holds at its step; the operator's pause, resume,
 * promote and abort reach both instances within a second; a healthy rollout walks its planned steps to
 * 100 %, each step's share of users within the split tolerance, and each step drains only the sessions
 * whose bucket moved, paced under the plan's rate cap.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CLUSTER_ADMIN_TOKEN,
  SHARED_REDIS_URL,
  deleteKeys,
  routeKeys,
  share,
  startBackends,
  startCluster,
  storesConnected,
  uniquePrefix,
  type Backends,
  type Cluster,
  type Instance,
} from "../helpers/cluster.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli-runner.js";
import { eventually } from "../helpers/eventually.js";
import { Timeline, Traffic, bucket, peakRate, rolloutOf, trackClients, type TrackedClient } from "../helpers/rollout-harness.js";

/** The issue's bound for a change to reach every instance. */
const PROPAGATION_BOUND_MS = 1000;
const INTERVAL = "400ms";
/** Closes per second per instance while a step drains (the plan's drain.maxRate). */
const MAX_RATE = 5;
const SHARE_KEYS = Array.from({ length: 200 }, (_, i) => `share-${i}`);

describe("progressive rollout on two gateway processes", () => {
  const prefix = uniquePrefix("rollout");
  let backends: Backends;
  let cluster: Cluster | undefined;
  let a: Instance;
  let b: Instance;
  let traffic: Traffic | undefined;
  let clients: TrackedClient[] = [];

  before(async () => {
    backends = await startBackends();
    cluster = await startCluster({
      backends,
      redisUrl: SHARED_REDIS_URL,
      prefix,
      ids: ["gw-a", "gw-b"],
      mode: "pipe",
      routing: { hubPercent: 0 },
    });
    [a, b] = cluster.instances as [Instance, Instance];
    await storesConnected(cluster);
    traffic = new Traffic(backends, [a, b]);
  });

  after(async () => {
    await traffic?.stop();
    for (const client of clients) client.socket.close();
    await cluster?.stop();
    await backends?.close();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  /** Waits until both instances show the phase; returns how long the slower one took. */
  async function everywhere(phase: string, weight: number): Promise<number> {
    const started = Date.now();
    // Right after a resume, the next check may already have made it "holding" (this plan is inconclusive).
    const phases = phase === "progressing" ? ["progressing", "holding"] : [phase];
    for (const instance of [a, b])
      await eventually(async () => {
        const state = await rolloutOf(instance.admin);
        return state !== undefined && phases.includes(state.phase) && state.weight === weight;
      }, `${instance.id} to show ${phase} at ${weight}%`);
    return Date.now() - started;
  }

  it("holds an inconclusive rollout at its step, saying why", async () => {
    const plan = { steps: [10, 100], interval: INTERVAL, minSessions: 100_000, gates: [{ gate: "connectErrorRate", margin: 0.1 }] };
    const started = await a.admin.call("POST", "/admin/rollout", { body: plan });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const first = await eventually(async () => (await rolloutOf(b.admin))?.lastCheck, "a first check");
    // Three more intervals judged, and still at the first step.
    const later = await eventually(
      async () => {
        const state = await rolloutOf(a.admin);
        return state !== undefined && state.lastCheck !== undefined && state.lastCheck.window >= first!.window + 3 ? state : undefined;
      },
      "three more checks",
      10_000,
    );
    assert.ok(later !== undefined);
    assert.equal(later.phase, "holding");
    assert.equal(later.weight, 10);
    assert.equal(later.lastCheck?.verdict, "inconclusive");
    assert.match(later.reason, /holding at 10%: inconclusive: hub sessions \d+ < minSessions 100000/);
    assert.equal((await a.admin.routing()).hubPercent, 10);
  });

  it("takes pause, resume, promote and abort from the CLI on one instance and shows them on both within a second", async () => {
    const cli = async (via: Instance, ...args: string[]) => {
      const done = await runCli(["rollout", ...args, "--url", via.admin.opsUrl], { SWITCHYARD_TOKEN: CLUSTER_ADMIN_TOKEN });
      assert.equal(done.code, 0, done.stderr);
      return done.stdout;
    };
    assert.match(await cli(b, "pause"), /^paused at 10%/);
    assert.ok((await everywhere("paused", 10)) <= PROPAGATION_BOUND_MS);
    const twice = await a.admin.call("POST", "/admin/rollout/pause");
    assert.deepEqual([twice.status, twice.body.changed, twice.body.summary], [200, false, "already paused"]);
    await cli(a, "resume");
    assert.ok((await everywhere("progressing", 10)) <= PROPAGATION_BOUND_MS);
    const status = await cli(b, "status");
    assert.match(status, /rollout r\w+: (progressing|holding), step 1 of 2, weight 10%/);
    assert.match(status, /connectErrorRate +- +- +inconclusive/);
    assert.match(await cli(b, "promote"), /step 1 → 2 \(10% → 100%\), promoted/);
    assert.ok((await everywhere("promoted", 100)) <= PROPAGATION_BOUND_MS);
    const again = await a.admin.call("POST", "/admin/rollout/abort");
    assert.equal(again.status, 409);
    assert.equal(again.body.code, "SWY_ERR_ROLLOUT_NONE");
    // Abort: a fresh rollout (from a YAML plan), then back to 0 everywhere.
    const file = join(mkdtempSync(join(tmpdir(), "rollout-")), "plan.yaml");
    writeFileSync(file, "steps: [20, 100]\ninterval: 1h\ngates:\n  - {gate: mismatchRate, max: 0.01}\n");
    assert.match(await cli(a, "start", "-f", file), /^started: started at step 1 of 2 \(20%\)/);
    const busy = await b.admin.call("POST", "/admin/rollout", { body: { steps: [20, 100], interval: "1h" } });
    assert.deepEqual([busy.status, busy.body.code], [409, "SWY_ERR_ROLLOUT_ACTIVE"]);
    const handMade = await b.admin.setHubPercent(50);
    assert.equal(handMade.status, 400);
    assert.match(handMade.body.message, /hubPercent: a rollout is progressing at 20%/);
    assert.match(await cli(b, "abort"), /^aborted: 20% → 0% by the operator/);
    assert.ok((await everywhere("aborted", 0)) <= PROPAGATION_BOUND_MS);
    const refused = await a.admin.call("POST", "/admin/rollout/pause", { token: "wrong-token-wrong-token" });
    assert.equal(refused.status, 401);
    const invalid = await a.admin.call("POST", "/admin/rollout", { body: { steps: [50, 20], interval: "soon" } });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.problems, [
      "plan.steps[1]: must be greater than the step before it (50)",
      'plan.interval: must be a duration such as "300ms", "30s", "5m", "1h" (got "soon")',
    ]);
    // A start names the routing version it was planned on (If-Match): a stale one is refused.
    const version = (await a.admin.routing()).version;
    const stale = await a.admin.call("POST", "/admin/rollout", { body: { steps: [30, 100], interval: "1h" }, ifMatch: version - 1 });
    assert.deepEqual([stale.status, stale.body.code], [409, "SWY_ERR_ROUTING_CONFLICT"]);
    // The one-call rollback aborts an active rollout along with the split.
    assert.equal(
      (await a.admin.call("POST", "/admin/rollout", { body: { steps: [30, 100], interval: "1h" }, ifMatch: version })).status,
      201,
    );
    assert.equal((await b.admin.rollback()).status, 200);
    assert.ok((await everywhere("aborted", 0)) <= PROPAGATION_BOUND_MS);
    assert.equal((await a.admin.routing()).hubPercent, 0);
  });

  it("walks a healthy hub to 100 % with the planned steps, each step's share within tolerance, draining only moved sessions", async (t) => {
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    clients = await trackClients(backends, keys, (i) => (i % 2 === 0 ? a : b).url);
    assert.ok(clients.every((client) => client.sessions.length === 1 && client.sessions[0]!.backend === "legacy"));
    const timeline = new Timeline(a.admin);
    const steps = [10, 25, 50, 100];
    const plan = {
      steps,
      interval: INTERVAL,
      threshold: 2,
      minSessions: 2,
      gates: [
        { gate: "connectErrorRate", margin: 0.1 },
        { gate: "upstreamCloseRate", margin: 0.2 },
        { gate: "fallbacksPerMinute", max: 0 },
      ],
      drain: { window: "300ms", jitter: 0.5, maxRate: MAX_RATE },
    };
    const startedAt = Date.now();
    assert.equal((await a.admin.call("POST", "/admin/rollout", { body: plan })).status, 201);
    // At each step below 100 %, hold the rollout for a moment and route a fixed set of users through both instances.
    const shares = new Map<number, number>();
    await eventually(
      async () => {
        const state = await rolloutOf(a.admin);
        if (state?.phase === "promoted") return true;
        if (state === undefined || shares.has(state.weight) || state.weight >= 100) return false;
        assert.equal((await a.admin.call("POST", "/admin/rollout/pause")).status, 200);
        const weight = (await rolloutOf(a.admin))!.weight;
        for (const instance of [a, b])
          await eventually(async () => (await instance.admin.routing()).hubPercent === weight, "the weight everywhere");
        shares.set(weight, share(await routeKeys(backends, SHARE_KEYS, (i) => ({ url: (i % 2 === 0 ? a : b).url })), "hub"));
        assert.equal((await a.admin.call("POST", "/admin/rollout/resume")).status, 200);
        return false;
      },
      "the rollout to be promoted",
      40_000,
    );
    await timeline.save("healthy");

    // The planned steps, in order, each taken once, by the controller.
    const audit = (await b.admin.audit(100)).filter((entry) => Date.parse(entry.at) >= startedAt && entry.action === "rollout.check");
    const taken = audit
      .reverse()
      .map((entry) => /^step \d+ → \d+ \(([\d.]+)% → ([\d.]+)%\)/.exec(entry.changes[0])?.[2])
      .filter((weight) => weight !== undefined)
      .map(Number);
    assert.deepEqual(taken, steps.slice(1));
    // Each step's share of users within the split tolerance (3 standard deviations of a sample of 200 keys).
    assert.deepEqual(
      [...shares.keys()].sort((x, y) => x - y),
      steps.slice(0, -1),
    );
    for (const [weight, seen] of shares) {
      const tolerance = 300 * Math.sqrt(((weight / 100) * (1 - weight / 100)) / SHARE_KEYS.length);
      assert.ok(Math.abs(seen - weight) <= tolerance, `hub share at ${weight}%: ${seen.toFixed(1)}%`);
    }
    // Every tracked client moved exactly once (its bucket's step drained it; no other step touched it) and is on the hub.
    await eventually(
      () => clients.every((client) => client.socket.connected && client.sessions.length === 2),
      "every client to move once",
      15_000,
    );
    for (const client of clients)
      assert.deepEqual(
        client.sessions.map((session) => session.backend),
        ["legacy", "hub"],
        client.key,
      );
    // Moved when the weight passed its bucket: a client in [25 %, 50 %) was not drained before the 50 % step.
    const early = clients.filter((client) => bucket(client.key) >= 5000);
    const late = clients.filter((client) => bucket(client.key) < 1000);
    assert.ok(early.length > 0 && late.length > 0);
    assert.ok(Math.min(...early.map((client) => client.sessions[1]!.at)) > Math.min(...late.map((client) => client.sessions[1]!.at)));
    // The reconnections a step caused stayed under the cap: two instances, each at most MAX_RATE closes a second
    // (the clients' own reconnection delay, 100-200 ms, may bunch them by a fifth). Unpaced, ~30 would come at once.
    const reconnects = clients.map((client) => client.sessions[1]!.at);
    assert.ok(peakRate(reconnects) <= 2 * (MAX_RATE * 1.2 + 1), `peak ${peakRate(reconnects)} reconnections in a second`);
    t.diagnostic(
      `shares ${[...shares].map(([w, seen]) => `${w}%: ${seen.toFixed(1)}%`).join(", ")}; peak ${peakRate(reconnects)} reconnections/s`,
    );
  });
});
