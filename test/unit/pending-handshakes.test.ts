import assert from "node:assert/strict";
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import { PendingHandshakes, type PendingHandshake } from "../../src/downstream/pending-handshakes.js";
import type { Upstream } from "../../src/upstream/upstream.js";
import { eventually } from "../helpers/eventually.js";

function entry(sessionId: string, upstream?: { closed: number }): PendingHandshake {
  const input = { query: new URLSearchParams(), headers: {}, remoteAddress: "203.0.113.7" };
  const context = { eio: 4 as const, query: [], headers: {}, remoteAddress: "203.0.113.7" };
  const bound =
    upstream === undefined
      ? undefined
      : {
          upstream: { sessionId, close: () => upstream.closed++ } as unknown as Upstream,
          backend: "hub" as const,
          shadowed: false,
          route: {
            backend: "hub" as const,
            shadow: undefined,
            reason: "split" as const,
            bucket: 1,
            keyHash: "0",
            keySource: "query:userId",
            configVersion: 1,
          },
        };
  return { sessionId, bound, input, context } as unknown as PendingHandshake;
}

function table(ttlMs?: number) {
  const unregistered: string[] = [];
  const pending = new PendingHandshakes({ unregisterSession: (sid) => unregistered.push(sid) }, ttlMs);
  return { pending, unregistered };
}

const req = () => new IncomingMessage(new Socket());

describe("pending handshakes", () => {
  it("gives engine.io the prepared session id, and the entry to whoever completes the handshake", () => {
    const { pending, unregistered } = table();
    const a = req();
    const upstream = { closed: 0 };
    pending.add(a, entry("sid-a", upstream));
    assert.equal(pending.sessionIdOf(a), "sid-a");
    assert.equal(pending.sessionIdOf(req()), undefined);
    assert.equal(pending.take(a)?.sessionId, "sid-a");
    assert.equal(pending.take(a), undefined, "taken once");
    pending.refuse(a);
    assert.equal(upstream.closed, 0, "a completed handshake's upstream is the session's");
    assert.deepEqual(unregistered, []);
  });

  it("releases a refused handshake: closes its upstream, unregisters its id", () => {
    const { pending, unregistered } = table();
    const a = req();
    const b = req();
    const upstream = { closed: 0 };
    pending.add(a, entry("sid-a", upstream));
    pending.add(b, entry("sid-b"));
    pending.refuse(a);
    pending.refuse(b);
    pending.refuse(b);
    assert.equal(upstream.closed, 1);
    assert.deepEqual(unregistered, ["sid-a", "sid-b"]);
    assert.equal(pending.sessionIdOf(a), undefined);
  });

  it("releases a handshake engine.io never completes after the TTL", async () => {
    const { pending, unregistered } = table(20);
    const upstream = { closed: 0 };
    const a = req();
    pending.add(a, entry("sid-a", upstream));
    const b = req();
    pending.add(b, entry("sid-b"));
    pending.take(b);
    await eventually(() => upstream.closed === 1, "the expired handshake's upstream to close");
    assert.deepEqual(unregistered, ["sid-a"], "only the expired one");
  });
});
