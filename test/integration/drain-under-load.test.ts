/**
 * Drain under load (the CI-sized variant of the drain phase of `npm run faults`): SIGTERM on one of two
 * gateway processes while clients of every generation chat in rooms across both backends. The instance
 * is unready before it closes anything, refuses new sessions, closes its sessions paced over half of
 * DRAIN_TIMEOUT_MS, exits 0 having finished its drain (not at the deadline), and every one of its clients
 * is back on the other instance; the other instance's clients lose nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Deployment } from "../helpers/load/deployment.js";
import { drainFault, summarizeDrain } from "../helpers/load/drain-phase.js";
import { describeResult, runFault } from "../helpers/load/faults.js";
import { LoadClients } from "../helpers/load/load-clients.js";

const CLIENTS = 160;
const DRAIN_TIMEOUT_MS = 8000;

describe(`drain under load (${CLIENTS} clients, SIGTERM on one of two instances)`, () => {
  let deployment: Deployment;
  let load: LoadClients | undefined;

  before(async () => {
    deployment = await Deployment.start({ drainTimeoutMs: DRAIN_TIMEOUT_MS });
    load = await LoadClients.start(deployment.url, CLIENTS, { processes: 2, periodMs: 1000 });
    await deployment.nodesSubscribed(3);
  });

  after(async () => {
    await load?.close();
    await deployment?.close();
  });

  it("unready first, new sessions refused, sessions closed paced, every client on the other instance, exit 0", async () => {
    // Whose sessions are on gw-1 (the balancer put them there; normally half of the clients).
    const onGw1 = [...deployment.balancer.targetOfUser.values()].filter((target) => target === 1).length;
    assert.ok(onGw1 > 0);
    const fault = drainFault();
    const result = await runFault(deployment, load!, 1, fault, {
      timing: { redisOutageMs: 0, stallMs: 0 },
      leadMs: 1000,
      settleMs: 1500,
      backTimeoutMs: 30_000,
    });
    const drain = summarizeDrain(result, fault.measures!);
    console.log(describeResult(result));
    console.log(`  drain: ${JSON.stringify(drain)}`);

    assert.equal(drain.exitCode, 0);
    assert.ok(drain.finishedItsDrain, "the instance logged the end of its drain before the deadline");
    assert.ok(drain.unreadyAfterMs >= 0, "/readyz said unready while the instance drained");
    assert.equal(drain.readyAfterClosing, 0, "/readyz said ready after sessions started closing");
    assert.ok(Object.keys(drain.handshakeAnswers).length > 0, "handshakes were tried during the drain");
    assert.equal(drain.handshakeAnswers["200"] ?? 0, 0, `a new session was accepted: ${JSON.stringify(drain.handshakeAnswers)}`);
    // Every client of gw-1 was closed, with a reason clients reconnect on (never "io server disconnect").
    const r = result.report;
    assert.equal(r.disconnected, onGw1);
    assert.ok(
      Object.keys(r.reasons).every((reason) => ["transport close", "transport error"].includes(reason)),
      JSON.stringify(r.reasons),
    );
    assert.ok((r.reasons["transport close"] ?? 0) > 0);
    // Paced: spread over the drain's first half (a slower machine only spreads them more), not in one burst.
    // 20 steps over DRAIN_TIMEOUT_MS / 2: the last 19/20 of it after the first.
    assert.ok(drain.lastCloseAfterMs - drain.firstCloseAfterMs >= 0.6 * (DRAIN_TIMEOUT_MS / 2), JSON.stringify(drain));
    assert.ok(drain.closesPerTenth.filter((n) => n > 0).length >= 5, JSON.stringify(drain.closesPerTenth));
    // Every client is back, on gw-0, and the clients that were on gw-0 lost nothing.
    assert.equal(r.up, CLIENTS);
    assert.equal(r.nodes["hub@1"] ?? 0, 0);
    assert.equal(r.nodes["hub@0"], CLIENTS / 2);
    assert.equal(result.healthyLost, 0);
    assert.equal(result.healthyDuplicates, 0);
    assert.ok(r.echo.healthy.sent > 0);
  });
});
