import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { addressKey, SESSION_LIMIT_RETRY_AFTER_SECONDS, SessionAdmission, type Admission } from "../../src/limits/session-admission.js";
import { subscribe } from "../../src/telemetry/events.js";

const OFF = { maxSessions: 0, maxSessionsPerAddress: 0, handshakeRate: 0, handshakeBurst: 1 };

function released(admission: Admission): () => void {
  assert.ok(admission.ok, "admitted");
  return admission.release;
}

describe("session admission", () => {
  const hits: string[] = [];
  const unsubscribe = subscribe("switchyard:limit:hit", (e) => hits.push(e.limit));
  afterEach(() => {
    hits.length = 0;
  });
  process.on("exit", unsubscribe);

  it("caps the instance's open sessions with 503 and Retry-After", () => {
    let open = 0;
    const admission = new SessionAdmission({ ...OFF, maxSessions: 2 }, () => open);
    released(admission.admit("10.0.0.1"));
    open = 2;
    const refused = admission.admit("10.0.0.2");
    assert.deepEqual(refused, {
      ok: false,
      status: 503,
      code: "SWY_ERR_SESSION_LIMIT",
      retryAfterSeconds: SESSION_LIMIT_RETRY_AFTER_SECONDS,
    });
    assert.deepEqual(hits, ["sessions"]);
    open = 1;
    assert.ok(admission.admit("10.0.0.2").ok);
  });

  it("caps sessions per address with 429 until one is released (idempotently), IPv4-mapped addresses counted as IPv4", () => {
    const admission = new SessionAdmission({ ...OFF, maxSessionsPerAddress: 2 }, () => 0);
    const first = released(admission.admit("10.0.0.1"));
    released(admission.admit("::ffff:10.0.0.1"));
    const refused = admission.admit("10.0.0.1");
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.status, 429);
    assert.equal(!refused.ok && refused.code, "SWY_ERR_ADDRESS_LIMIT");
    assert.ok(admission.admit("10.0.0.2").ok, "another address is not affected");
    first();
    first();
    assert.ok(admission.admit("10.0.0.1").ok, "one place freed");
    assert.equal(admission.admit("10.0.0.1").ok, false, "a second release of the same lease freed nothing more");
    assert.deepEqual(hits, ["sessions_per_address", "sessions_per_address"]);
  });

  it("forgets an address once its last lease is released", () => {
    const admission = new SessionAdmission({ ...OFF, maxSessionsPerAddress: 1 }, () => 0);
    const leases = ["a", "b", "c"].map((address) => released(admission.admit(address)));
    assert.equal(admission.trackedAddresses, 3);
    for (const release of leases) release();
    assert.equal(admission.trackedAddresses, 0);
  });

  it("rate-limits handshakes with 503 and the seconds until the next token; refusals for other caps spend none", () => {
    let now = 0;
    let open = 0;
    const admission = new SessionAdmission(
      { ...OFF, maxSessions: 5, handshakeRate: 1, handshakeBurst: 2 },
      () => open,
      () => now,
    );
    open = 5;
    assert.equal(admission.admit("a").ok, false, "full");
    open = 0;
    assert.ok(admission.admit("a").ok);
    assert.ok(admission.admit("b").ok);
    const refused = admission.admit("c");
    assert.deepEqual(refused, { ok: false, status: 503, code: "SWY_ERR_RATE_LIMITED", retryAfterSeconds: 1 });
    now = 1000;
    assert.ok(admission.admit("c").ok);
    assert.deepEqual(hits, ["sessions", "handshake_rate"]);
  });

  it("normalises addresses", () => {
    assert.equal(addressKey("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(addressKey("::FFFF:7f00:1"), "::ffff:7f00:1");
    assert.equal(addressKey("2001:DB8::1"), "2001:db8::1");
  });
});
