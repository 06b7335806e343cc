/**
 * Faults under load, with loss accounting (the CI-sized variant of `npm run faults`): clients of every
 * generation chat in rooms that span both backends and both gateway instances (50 % split, the Redis room
 * bridge), behind a fail-over balancer, while each fault in turn is injected: legacy killed and restarted,
 * legacy accepting and then stalling, Redis stopped and restarted empty, one gateway killed with SIGKILL,
 * the hub killed and restarted. Each phase: every client is back, the healthy side (both ends connected
 * throughout) lost and duplicated nothing, and operators saw it in the metrics. Afterwards nothing is left
 * behind: sessions, room sockets, handles, registry entries, listener warnings.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../helpers/eventually.js";
import { Deployment, type Sample } from "../helpers/load/deployment.js";
import { clusterTotal, describeResult, FAULTS, runFault, type PhaseResult } from "../helpers/load/faults.js";
import { LoadClients } from "../helpers/load/load-clients.js";

const CLIENTS = 200;
const TIMING = { redisOutageMs: 5000, stallMs: 6000 };
const PHASE = { timing: TIMING, leadMs: 1000, settleMs: 1500, backTimeoutMs: 90_000 };

function handlesByType(samples: readonly Sample[]): Map<string, number> {
  const byType = new Map<string, number>();
  for (const s of samples.filter((s) => s.name === "nodejs_active_handles"))
    byType.set(/type="([^"]*)"/.exec(s.labels)?.[1] ?? "?", s.value);
  return byType;
}

/**
 * Handles above the idle baseline, by type. The baseline is taken before any client, so a connection or two the
 * gateway opens on first use and keeps (Redis clients of the room bridge and the like) are allowed for, and so
 * are its hub links (HUB_PROTOCOL's default, auto, gets switchyard-hub.v2 from the rooms hub: at most HUB_LINKS,
 * 2, shared WebSockets that stay open for the next sessions); a leak of what the faults broke would be several
 * sockets (one per affected session).
 */
const HUB_LINKS = 2;
const FIRST_USE_SOCKETS = 2 + HUB_LINKS;

function excess(now: Map<string, number>, baseline: Map<string, number>): string[] {
  const allowed = (type: string) => (baseline.get(type) ?? 0) + (type === "Socket" ? FIRST_USE_SOCKETS : 0);
  return [...now].filter(([type, n]) => n > allowed(type)).map(([type, n]) => `${type}: ${n} > ${allowed(type)}`);
}

describe(`faults under load (${CLIENTS} clients, rooms across both backends and both instances)`, () => {
  let deployment: Deployment;
  let load: LoadClients | undefined;
  const baselines: Map<string, number>[] = [];
  const results = new Map<string, PhaseResult>();

  before(async () => {
    // A short Engine.IO ping on the legacy node, so that the stalled backend is noticed within 5 s (not so
    // short that clients of a busy machine miss pings).
    deployment = await Deployment.start({ legacyPing: { interval: 2000, timeout: 3000 } });
    for (const i of [0, 1]) baselines[i] = handlesByType(await deployment.metrics(i));
    load = await LoadClients.start(deployment.url, CLIENTS, { processes: 2, periodMs: 1000 });
    // The gateways join the adapter's channels with their first hub session in the namespace.
    await deployment.nodesSubscribed(3);
  });

  after(async () => {
    await load?.close();
    await deployment?.close();
  });

  for (const [n, fault] of FAULTS.entries()) {
    it(fault.name, async () => {
      const result = await runFault(deployment, load!, n + 1, fault, PHASE);
      results.set(fault.name, result);
      // A restarted instance starts from a baseline of its own (idle: its old clients are on the other one).
      if (fault.restore !== undefined) baselines[1] = handlesByType(await deployment.metrics(1));
      console.log(describeResult(result));
      const r = result.report;
      assert.equal(r.up, CLIENTS, "every client is back");
      assert.ok(r.pairs.sameNode.expected > 0 && r.echo.healthy.sent > 0, "the healthy side carried traffic");
      assert.equal(result.healthyLost, 0, "messages lost on the healthy side");
      assert.equal(result.healthyDuplicates, 0, "duplicates on the healthy side");
      assert.equal(result.metrics['switchyard_contained_errors_total{boundary="client",code="SWY_ERR_INTERNAL"}'] ?? 0, 0);
      // The gateways hold no more sessions than there are clients: none left over from the fault (a leak shows
      // here first). Fewer is possible: a legacy polling session whose gateway died goes on through the other one,
      // which did not see its handshake and does not count it.
      await eventually(
        async () => (await clusterTotal(deployment, "switchyard_sessions_open")) <= CLIENTS,
        `the gateways to count at most ${CLIENTS} sessions (${JSON.stringify(result.sessionsOpen)})`,
        15_000,
        250,
      );
    });
  }

  it("the faults hit whom they should, and operators saw them", () => {
    const of = (name: string) => results.get(name)!;
    // Legacy gone: its sessions (half of the clients) reconnect; the hub's are untouched.
    assert.ok(of("legacy killed and restarted").report.disconnected >= CLIENTS / 2);
    assert.ok(of("legacy accepts, then stalls").report.disconnected >= CLIENTS / 2);
    // Redis away: deliveries between nodes are the counted gap. Redis disconnects nobody (on an overloaded
    // machine a few clients may miss a ping meanwhile).
    const redis = of("Redis stopped, restarted empty");
    assert.ok(redis.report.disconnected < CLIENTS / 4, JSON.stringify(redis.report.reasons));
    assert.ok((redis.metrics['switchyard_bridge_publish_failures_total{world="primary"}'] ?? 0) > 0, JSON.stringify(redis.metrics));
    // gw-1 gone: its clients (half) move to gw-0.
    const killed = of("gateway gw-1 killed (SIGKILL)");
    assert.ok(killed.report.disconnected >= CLIENTS / 4);
    assert.equal(killed.report.nodes["hub@1"] ?? 0, 0);
    // Hub gone: its sessions reconnect, those that come back while it is away fall back to legacy.
    assert.ok(of("hub killed and restarted").report.disconnected >= CLIENTS / 4);
  });

  it("leaves nothing behind: sessions, room sockets, handles, registry entries, listener warnings", async () => {
    await load!.close();
    load = undefined;
    await eventually(
      async () => (await clusterTotal(deployment, "switchyard_sessions_open")) === 0,
      "every session to close",
      45_000,
    ).catch(async (error: Error) => {
      const open = await Promise.all(
        [0, 1].map(async (i) => (await deployment.metrics(i)).filter((s) => s.name === "switchyard_sessions_open" && s.value > 0)),
      );
      const registry = await deployment.registryEntries();
      throw new Error(`${error.message}: ${JSON.stringify(open)}; registry: ${JSON.stringify(registry)}`);
    });
    await eventually(async () => (await clusterTotal(deployment, "switchyard_room_sockets")) === 0, "every room socket to go", 10_000);
    for (const i of [0, 1]) {
      let now = new Map<string, number>();
      await eventually(
        async () => {
          now = handlesByType(await deployment.metrics(i));
          return excess(now, baselines[i]!).length === 0;
        },
        `gw-${i}'s handles to return to the baseline`,
        20_000,
        250,
      ).catch((error: Error) => {
        throw new Error(`${error.message}: ${excess(now, baselines[i]!).join(", ")}`);
      });
    }
    const registry = await deployment.registryEntries();
    // The entries of the killed instance's sessions outlive it by at most their TTL; every other one is gone.
    assert.equal(registry.withoutTtl, 0);
    assert.ok(registry.entries <= (results.get("gateway gw-1 killed (SIGKILL)")?.report.disconnected ?? 0), JSON.stringify(registry));
    assert.deepEqual(deployment.warnings, []);
  });
});
