import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ShadowConfig, ShadowRule } from "../../src/config/shadow-config.js";
import { PendingBudget } from "../../src/shadow/budget.js";
import { SessionComparator, type ComparisonOutcome } from "../../src/shadow/comparator.js";
import { PacketReader } from "../../src/shadow/packet-reader.js";

function shadowRule(partial: Partial<ShadowRule> & { event: string }): ShadowRule {
  return { ignore: [], tolerance: 0, unordered: false, ...partial };
}

class Harness {
  config: ShadowConfig;
  readonly outcomes: ComparisonOutcome[] = [];
  readonly budget: PendingBudget;
  readonly comparator: SessionComparator;

  constructor(config: Partial<ShadowConfig> = {}, options: { maxSessionPending?: number; budget?: PendingBudget } = {}) {
    this.config = { percent: 100, windowMs: 5000, maxPending: 1000, rules: [], ...config };
    this.budget = options.budget ?? new PendingBudget(() => this.config.maxPending);
    this.comparator = new SessionComparator({
      config: () => this.config,
      budget: this.budget,
      onOutcome: (outcome) => this.outcomes.push(outcome),
      ...(options.maxSessionPending === undefined ? {} : { maxSessionPending: options.maxSessionPending }),
    });
  }

  /** The outcomes so far, without the payload fields, for compact assertions. */
  results(): string[] {
    return this.outcomes.map((o) =>
      [o.result, o.kind, o.nsp, o.event, o.delayMs === undefined ? "" : `${o.delayMs}ms`, o.reordered ? "reordered" : ""]
        .filter(Boolean)
        .join(" "),
    );
  }
}

describe("shadow comparator: events", () => {
  it("matches equal payloads whichever side comes first, with the delay", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", [{ text: "a" }], 1000);
    h.comparator.shadowEvent("/", "msg", [{ text: "a" }], 1030);
    h.comparator.shadowEvent("/chat", "msg", [{ text: "b" }], 1100);
    h.comparator.primaryEvent("/chat", "msg", [{ text: "b" }], 1120);
    assert.deepEqual(h.results(), ["match event / msg 30ms", "match event /chat msg -20ms"]);
    assert.equal(h.comparator.pending, 0);
    assert.equal(h.budget.used, 0);
  });

  it("does not pair across namespaces or event names", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", ["x"], 0);
    h.comparator.shadowEvent("/chat", "msg", ["x"], 1);
    h.comparator.shadowEvent("/", "note", ["x"], 2);
    h.comparator.expire(10_000);
    assert.deepEqual(h.results(), ["missing event / msg", "extra event /chat msg", "extra event / note"]);
  });

  it("reports a mismatch with a diff and both payloads when the window expires", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", [{ text: "hello", n: 1 }], 0);
    h.comparator.shadowEvent("/", "msg", [{ text: "HELLO", n: 1 }], 40);
    h.comparator.expire(4999);
    assert.deepEqual(h.outcomes, [], "nothing before the window has passed");
    h.comparator.expire(5000);
    assert.deepEqual(h.outcomes, [], "the shadow event could still match exactly");
    h.comparator.expire(5040);
    assert.equal(h.outcomes.length, 1);
    assert.deepEqual(h.outcomes[0], {
      result: "mismatch",
      kind: "event",
      nsp: "/",
      event: "msg",
      delayMs: 40,
      diff: [{ path: "$[0].text", primary: "hello", shadow: "HELLO" }],
      primary: [{ text: "hello", n: 1 }],
      shadow: [{ text: "HELLO", n: 1 }],
    });
    assert.equal(h.comparator.pending, 0);
  });

  it("keeps an altered event a mismatch when the shadow delivers first", () => {
    const h = new Harness();
    h.comparator.shadowEvent("/", "msg", ["altered"], 0);
    h.comparator.primaryEvent("/", "msg", ["original"], 300);
    h.comparator.expire(5000); // the shadow's window is over, the primary's is not
    assert.deepEqual(h.outcomes, []);
    h.comparator.expire(5300);
    assert.deepEqual(h.results(), ["mismatch event / msg -300ms"]);
  });

  it("does not take an early shadow event waiting for its own primary as a mismatch", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", ["dropped by the shadow"], 0);
    h.comparator.shadowEvent("/", "msg", ["next"], 4990); // the shadow is early
    h.comparator.expire(5000);
    assert.deepEqual(h.outcomes, []);
    h.comparator.primaryEvent("/", "msg", ["next"], 5010);
    h.comparator.expire(5020);
    assert.deepEqual(h.results(), ["match event / msg -20ms", "missing event / msg"]);
  });

  it("unpairs a held event two windows after its arrival at the latest", () => {
    const h = new Harness({ windowMs: 100 });
    h.comparator.primaryEvent("/", "msg", ["a"], 0);
    for (let t = 50; t <= 400; t += 50) {
      h.comparator.shadowEvent("/", "msg", [`s${t}`], t);
      h.comparator.primaryEvent("/", "msg", [`s${t}`], t + 10);
      h.comparator.expire(t + 10);
    }
    assert.deepEqual(
      h.outcomes.filter((o) => o.result !== "match").map((o) => o.result),
      ["missing"],
    );
    assert.ok(h.outcomes.findIndex((o) => o.result === "missing") <= 4, "resolved by 200 ms");
  });

  it("reports missing and extra", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "a", [1], 0);
    h.comparator.shadowEvent("/", "b", [2], 10);
    h.comparator.expire(6000);
    assert.deepEqual(h.results(), ["missing event / a", "extra event / b"]);
    assert.deepEqual(h.outcomes[0]?.primary, [1]);
    assert.deepEqual(h.outcomes[1]?.shadow, [2]);
  });

  it("pairs equal events first in first out and flags reordering", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", ["a"], 0);
    h.comparator.primaryEvent("/", "msg", ["b"], 10);
    h.comparator.primaryEvent("/", "msg", ["a"], 20);
    h.comparator.primaryEvent("/", "msg", ["c"], 30);
    h.comparator.shadowEvent("/", "msg", ["b"], 50); // b before the first a: b is in order, a is not
    h.comparator.shadowEvent("/", "msg", ["a"], 60);
    h.comparator.shadowEvent("/", "msg", ["a"], 70);
    h.comparator.shadowEvent("/", "msg", ["c"], 80);
    assert.deepEqual(h.results(), [
      "match event / msg 40ms",
      "match event / msg 60ms reordered",
      "match event / msg 50ms",
      "match event / msg 50ms",
    ]);
  });

  it("compares $connect by the fact, $connect_error by payload, and maps socket ids from CONNECT replies", () => {
    const h = new Harness();
    const primary = new PacketReader();
    const shadow = new PacketReader();
    const feed = (side: "primary" | "shadow", wire: string, at: number): void => {
      const result = (side === "primary" ? primary : shadow).read(wire);
      assert.ok(result.ok && result.packet !== undefined);
      h.comparator.serverPacket(side, result.packet, at);
    };
    feed("primary", '0{"sid":"P1"}', 0);
    feed("shadow", '0{"sid":"S1"}', 5);
    feed("primary", '2["joined",{"id":"P1","name":"ann"}]', 10);
    feed("shadow", '2["joined",{"id":"S1","name":"ann"}]', 12);
    feed("primary", '4/admin,{"message":"not authorized"}', 20);
    feed("shadow", '4/admin,{"message":"forbidden"}', 21);
    feed("primary", "1/chat,", 30);
    feed("shadow", "1/chat,", 31);
    h.comparator.expire(10_000);
    assert.deepEqual(h.results(), [
      "match event / $connect 5ms",
      "match event / joined 2ms",
      "match event /chat $disconnect 1ms",
      "mismatch event /admin $connect_error 1ms",
    ]);
    assert.deepEqual(h.outcomes[3]?.diff, [{ path: "$[0].message", primary: "not authorized", shadow: "forbidden" }]);
  });

  it("applies an explicit id mapping to shadow events already pending", () => {
    const h = new Harness();
    h.comparator.shadowEvent("/", "hello", [{ from: "/chat#S" }], 0);
    h.comparator.primaryEvent("/", "hello", [{ from: "/chat#P" }], 1);
    assert.deepEqual(h.outcomes, []);
    h.comparator.setIdMapping("/chat", "P", "S");
    h.comparator.expire(2);
    h.comparator.primaryEvent("/", "hello", [{ from: "P" }], 3);
    h.comparator.shadowEvent("/", "hello", [{ from: "S" }], 4);
    assert.deepEqual(h.results(), ["match event / hello -1ms", "match event / hello 1ms"]);
  });

  it("matches within a numeric tolerance", () => {
    const h = new Harness({ rules: [shadowRule({ event: "price", tolerance: 0.01 })] });
    h.comparator.primaryEvent("/", "price", [{ v: 1.0 }], 0);
    h.comparator.primaryEvent("/", "price", [{ v: 2.0 }], 1);
    h.comparator.shadowEvent("/", "price", [{ v: 2.004 }], 2);
    h.comparator.shadowEvent("/", "price", [{ v: 0.995 }], 3);
    assert.deepEqual(h.results(), ["match event / price 1ms", "match event / price 3ms reordered"]);
  });

  it("applies a rule change to pending events and to the window without restart", () => {
    const h = new Harness({ windowMs: 1000 });
    h.comparator.primaryEvent("/", "msg", [{ text: "a", ts: 1 }], 0);
    h.comparator.shadowEvent("/", "msg", [{ text: "a", ts: 2 }], 10);
    assert.deepEqual(h.outcomes, []);
    h.config = { ...h.config, windowMs: 3000, rules: [shadowRule({ event: "msg", ignore: ["ts"] })] };
    h.comparator.expire(1500); // the old window would have made this a mismatch
    assert.deepEqual(h.results(), ["match event / msg 10ms"]);
    h.comparator.primaryEvent("/", "msg", [{ text: "b", ts: 3 }], 2000);
    h.comparator.shadowEvent("/", "msg", [{ text: "b", ts: 4 }], 2001);
    h.comparator.primaryEvent("/", "msg", [{ text: "c" }], 2002);
    h.comparator.expire(4999);
    assert.equal(h.outcomes.length, 2);
    h.comparator.expire(5002);
    assert.deepEqual(h.results(), ["match event / msg 10ms", "match event / msg 1ms", "missing event / msg"]);
  });
});

describe("shadow comparator: acks", () => {
  it("pairs acks by id under the client's event name", () => {
    const h = new Harness();
    h.comparator.clientAckRequest("/", "save", 1);
    h.comparator.clientAckRequest("/chat", "load", 1);
    h.comparator.clientAckRequest("/", "save", 2);
    h.comparator.clientAckRequest("/", "save", 3);
    h.comparator.shadowAck("/chat", 1, [{ items: [1] }], 5);
    h.comparator.primaryAck("/", 1, ["ok"], 10);
    h.comparator.primaryAck("/chat", 1, [{ items: [1, 2] }], 11);
    h.comparator.shadowAck("/", 1, ["ok"], 12);
    h.comparator.primaryAck("/", 2, ["ok"], 20);
    h.comparator.shadowAck("/", 3, ["ok"], 21);
    h.comparator.shadowAck("/", 99, ["?"], 22);
    h.comparator.expire(10_000);
    assert.deepEqual(h.results(), [
      "mismatch ack /chat load -6ms",
      "match ack / save 2ms",
      "missing ack / save",
      "extra ack / save",
      "extra ack / $ack",
    ]);
    assert.deepEqual(
      h.outcomes.map((o) => o.ackId),
      [1, 1, 2, 3, 99],
    );
    assert.deepEqual(h.outcomes[0]?.diff, [{ path: "$[0].items[1]", primary: 2, shadow: undefined, note: "only in primary" }]);
  });

  it("learns ack requests from client packets and reads acks from server packets", () => {
    const h = new Harness();
    const client = new PacketReader();
    const primary = new PacketReader();
    const shadow = new PacketReader();
    const request = client.read('2/chat,7["history",{"room":"a"}]');
    assert.ok(request.ok && request.packet !== undefined);
    h.comparator.clientPacket(request.packet);
    for (const [side, reader, messages, at] of [
      ["primary", primary, ['61-/chat,7[{"_placeholder":true,"num":0}]', Buffer.from("blob")], 10],
      ["shadow", shadow, ['61-/chat,7[{"_placeholder":true,"num":0}]', Buffer.from("blob")], 15],
    ] as const) {
      for (const message of messages) {
        const result = reader.read(message);
        assert.ok(result.ok);
        if (result.packet !== undefined) h.comparator.serverPacket(side, result.packet, at);
      }
    }
    assert.deepEqual(h.results(), ["match ack /chat history 5ms"]);
  });
});

describe("shadow comparator: bounded memory", () => {
  it("counts overflow instead of buffering when the shared budget is full, and releases it", () => {
    const budget = new PendingBudget(3);
    const a = new Harness({}, { budget });
    const b = new Harness({}, { budget });
    a.comparator.primaryEvent("/", "msg", [1], 0);
    a.comparator.primaryEvent("/", "msg", [2], 1);
    b.comparator.shadowEvent("/", "msg", [3], 2);
    b.comparator.shadowEvent("/", "msg", [4], 3);
    a.comparator.shadowEvent("/", "msg", [1], 4); // pairs with a pending event: needs no budget
    assert.deepEqual(b.outcomes, [{ result: "overflow", kind: "event", nsp: "/", event: "msg", side: "shadow", reason: "budget" }]);
    assert.equal(b.comparator.pending, 1);
    assert.equal(budget.used, 2);
    assert.equal(budget.overflowed, 1);
    b.comparator.expire(10_000);
    a.comparator.expire(10_000);
    assert.equal(budget.used, 0);
    assert.deepEqual(a.results(), ["match event / msg 4ms", "missing event / msg"]);
    assert.deepEqual(b.results(), ["overflow event / msg", "extra event / msg"]);
    assert.equal(b.outcomes[1]?.afterOverflow, true, "an extra near an overflow is flagged");
  });

  it("caps what one session buffers", () => {
    const h = new Harness({}, { maxSessionPending: 100 });
    for (let i = 0; i < 1000; i++) h.comparator.primaryEvent("/", "msg", [i], i);
    assert.equal(h.comparator.pending, 100);
    assert.equal(h.outcomes.length, 900);
    assert.ok(h.outcomes.every((o) => o.result === "overflow" && o.reason === "session" && o.side === "primary"));
    h.comparator.close({ flush: true });
    assert.equal(h.budget.used, 0);
  });

  it("forgets buckets and ack requests it no longer needs", () => {
    const h = new Harness({ windowMs: 10 });
    for (let i = 0; i < 5000; i++) {
      h.comparator.primaryEvent("/", `event-${i}`, [i], i);
      h.comparator.shadowEvent("/", `event-${i}`, [i], i);
      h.comparator.clientAckRequest("/", "ask", i);
      h.comparator.expire(i);
    }
    const internals = h.comparator as unknown as { buckets: Map<unknown, unknown>; acks: { requestCount: number } };
    assert.equal(internals.buckets.size, 0);
    assert.equal(internals.acks.requestCount, 1000);
  });
});

describe("shadow comparator: close", () => {
  it("resolves the rest as windows pass, ignoring new deliveries", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", [1], 0);
    h.comparator.shadowEvent("/", "msg", [2], 100);
    h.comparator.close();
    h.comparator.primaryEvent("/", "msg", [2], 200);
    assert.equal(h.comparator.done, false);
    h.comparator.expire(5000);
    assert.equal(h.comparator.done, false);
    h.comparator.expire(5100);
    assert.deepEqual(h.results(), ["mismatch event / msg 100ms"]);
    assert.equal(h.comparator.done, true);
  });

  it("flushes at once", () => {
    const h = new Harness();
    h.comparator.shadowEvent("/", "msg", [2], 0);
    h.comparator.primaryEvent("/", "msg", [1], 100);
    h.comparator.primaryEvent("/", "other", [1], 100);
    h.comparator.clientAckRequest("/", "save", 4);
    h.comparator.shadowAck("/", 4, [], 150);
    h.comparator.shadowEvent("/", "late", [1], 200);
    h.comparator.close({ flush: true });
    assert.deepEqual(h.results(), ["mismatch event / msg -100ms", "missing event / other", "extra ack / save", "extra event / late"]);
    assert.equal(h.comparator.done, true);
    assert.equal(h.budget.used, 0);
  });
});

describe("shadow comparator: the client leaves before the shadow delivered", () => {
  it("still pairs what the shadow had in flight, and counts no lone shadow delivery as extra", () => {
    const h = new Harness();
    h.comparator.primaryEvent("/", "msg", [{ text: "a" }], 0);
    h.comparator.primaryEvent("/", "msg", [{ text: "b" }], 10);
    h.comparator.primaryEvent("/", "msg", [{ text: "c" }], 20);
    h.comparator.closePrimary();
    // The primary can deliver nothing more; what arrives anyway is ignored.
    h.comparator.primaryEvent("/", "msg", [{ text: "late" }], 30);
    h.comparator.shadowEvent("/", "msg", [{ text: "a" }], 300);
    h.comparator.shadowEvent("/", "msg", [{ text: "B!" }], 310);
    // No recipient is left for a shadow delivery that pairs with nothing.
    h.comparator.shadowEvent("/", "typing", [{ from: "x" }], 320);
    h.comparator.close();
    h.comparator.expire(10_000);
    assert.deepEqual(h.results(), ["match event / msg 300ms", "mismatch event / msg 300ms", "missing event / msg"]);
    assert.equal(h.comparator.done, true);
    assert.equal(h.budget.used, 0);
  });
});
