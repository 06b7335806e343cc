import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Backend, ClientTransport, SessionCounts } from "../../src/domain.js";
import { SessionTable } from "../../src/downstream/session-table.js";

interface FakeSession {
  readonly id: string;
  backend: Backend | undefined;
  transport: ClientTransport;
}

/** What a walk over every session would count: the incremental counts must always agree with it. */
function walked(table: SessionTable<FakeSession>): SessionCounts {
  const counts: SessionCounts = { legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } };
  for (const session of table.values()) if (session.backend !== undefined) counts[session.backend][session.transport]++;
  return counts;
}

describe("session table", () => {
  it("keeps counts per backend and transport through bind, upgrade and close", () => {
    const table = new SessionTable<FakeSession>();
    const a: FakeSession = { id: "a", backend: "legacy", transport: "polling" };
    const b: FakeSession = { id: "b", backend: undefined, transport: "polling" };
    const c: FakeSession = { id: "c", backend: "hub", transport: "websocket" };
    table.add(a);
    table.add(b);
    table.add(c);
    assert.deepEqual(table.counts(), { legacy: { polling: 1, websocket: 0 }, hub: { polling: 0, websocket: 1 } });
    b.transport = "websocket";
    table.recount(b);
    assert.deepEqual(table.counts(), walked(table), "an unrouted session does not count");
    b.backend = "hub";
    table.recount(b);
    a.transport = "websocket";
    table.recount(a);
    table.recount(a);
    assert.deepEqual(table.counts(), { legacy: { polling: 0, websocket: 1 }, hub: { polling: 0, websocket: 2 } });
    assert.deepEqual(table.counts(), walked(table));
    table.delete(c);
    table.delete(c);
    assert.deepEqual(table.counts(), { legacy: { polling: 0, websocket: 1 }, hub: { polling: 0, websocket: 1 } });
    assert.equal(table.size, 2);
    assert.equal(table.get("c"), undefined);
    assert.equal(table.get("a"), a);
  });

  it("ignores sessions it does not hold, and hands out copies", () => {
    const table = new SessionTable<FakeSession>();
    const a: FakeSession = { id: "a", backend: "legacy", transport: "polling" };
    table.recount(a);
    table.add(a);
    const impostor: FakeSession = { id: "a", backend: "hub", transport: "websocket" };
    table.recount(impostor);
    table.delete(impostor);
    const counts = table.counts();
    counts.legacy.polling += 100;
    assert.deepEqual(table.counts(), { legacy: { polling: 1, websocket: 0 }, hub: { polling: 0, websocket: 0 } });
    assert.equal(table.size, 1);
  });
});
