import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { SOCKET_IO_DEFAULTS, type HandshakeValues } from "../../src/downstream/engine-options.js";
import { HandshakeLearner } from "../../src/downstream/handshake-learner.js";
import type { EngineIoHandshake } from "../../src/protocol/engineio.js";
import { gatewayEnv } from "../helpers/stack.js";

const LEGACY: EngineIoHandshake = { sid: "probe", upgrades: ["websocket"], pingInterval: 300, pingTimeout: 200, maxPayload: 1000 };

/** A probe that fails `failures` times, then answers; counts its calls. */
function probe(failures: number) {
  const state = { calls: 0 };
  const run = async (): Promise<EngineIoHandshake> => {
    state.calls++;
    if (state.calls <= failures) throw new Error("legacy down");
    return LEGACY;
  };
  return { run, state };
}

function learner(run: () => Promise<EngineIoHandshake>, env: Record<string, string> = {}): HandshakeLearner {
  return new HandshakeLearner({ config: loadStaticConfig(gatewayEnv(env)), logger: pino({ level: "silent" }), probe: run, retryMs: 5 });
}

/** The learner's retry timer is unref'd (it must not keep a gateway alive): a test holds the loop open itself. */
async function holdingTheLoop<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000);
  try {
    return await work;
  } finally {
    clearInterval(hold);
  }
}

describe("handshake learner", () => {
  it("learns the legacy server's values at the first probe", async () => {
    const p = probe(0);
    const l = learner(p.run);
    assert.equal(l.state, "defaults");
    assert.deepEqual(l.current, SOCKET_IO_DEFAULTS);
    await l.probeOnce();
    assert.equal(l.state, "learned");
    assert.deepEqual(l.current, { pingInterval: 300, pingTimeout: 200, maxPayload: 1000 });
    const told: HandshakeValues[] = [];
    assert.deepEqual(await l.untilLearned((values) => told.push(values)), l.current);
    assert.deepEqual(told, [], "nothing to tell: the values were known from the start");
    assert.equal(p.state.calls, 1);
  });

  it("keeps the defaults while the legacy server is down and retries until it answers", async () => {
    const p = probe(3);
    const l = learner(p.run);
    await l.probeOnce();
    assert.equal(l.state, "defaults");
    const told: HandshakeValues[] = [];
    const values = await holdingTheLoop(l.untilLearned((learned) => told.push(learned)));
    assert.equal(p.state.calls, 4);
    assert.deepEqual(values, { pingInterval: 300, pingTimeout: 200, maxPayload: 1000 });
    assert.deepEqual(told, [values]);
    assert.equal(l.state, "learned");
  });

  it("overrides win: no probe at all; a partial override mixes with learned values", async () => {
    const p = probe(0);
    const full = learner(p.run, { PING_INTERVAL_MS: "1000", PING_TIMEOUT_MS: "2000", MAX_PAYLOAD_BYTES: "3000" });
    await full.probeOnce();
    assert.equal(full.state, "overridden");
    assert.deepEqual(await full.untilLearned(() => assert.fail("no probe")), { pingInterval: 1000, pingTimeout: 2000, maxPayload: 3000 });
    assert.equal(p.state.calls, 0);
    const partial = learner(p.run, { PING_INTERVAL_MS: "1000" });
    await partial.probeOnce();
    assert.deepEqual(partial.current, { pingInterval: 1000, pingTimeout: 200, maxPayload: 1000 });
  });

  it("stops retrying when stopped", async () => {
    const p = probe(Number.MAX_SAFE_INTEGER);
    const l = learner(p.run);
    void l.untilLearned(() => assert.fail("never learned"));
    while (p.state.calls < 2) await holdingTheLoop(new Promise((resolve) => setTimeout(resolve, 5)));
    l.stop();
    const calls = p.state.calls;
    await holdingTheLoop(new Promise((resolve) => setTimeout(resolve, 50)));
    assert.ok(p.state.calls <= calls + 1, "at most the probe in flight finishes");
    assert.equal(l.state, "defaults");
  });
});
