import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameCache } from "../../src/shadow/frame-cache.js";
import { compileRule, IdMapping, NO_RULE, payloadKey } from "../../src/shadow/noise.js";
import { eventOf, PacketReader, type PacketReadResult, type SocketIoPacket } from "../../src/shadow/packet-reader.js";

function packetOf(result: PacketReadResult): SocketIoPacket {
  assert.ok(result.ok && result.packet !== undefined, `expected a packet, got ${JSON.stringify(result)}`);
  return result.packet;
}

describe("shadow frame cache: a broadcast's text is decoded once for all its recipients", () => {
  it("gives every reader sharing the cache the same packet, and the same argument list", () => {
    const cache = new FrameCache();
    const readers = [new PacketReader({ cache }), new PacketReader({ cache }), new PacketReader({ cache })];
    // Separate string objects with the same text, as each recipient's socket delivers them.
    const texts = readers.map(() => ["2", '["msg",{"room":"r","text":"hi"}]'].join(""));
    const packets = readers.map((reader, i) => packetOf(reader.read(texts[i] as string)));
    assert.equal(packets[1], packets[0]);
    assert.equal(packets[2], packets[0]);
    assert.deepEqual(packets[0]?.data, ["msg", { room: "r", text: "hi" }]);
    assert.equal(eventOf(packets[1] as SocketIoPacket)?.args, eventOf(packets[0] as SocketIoPacket)?.args);
    assert.deepEqual([cache.hits, cache.misses], [2, 1]);
  });

  it("keeps no binary packet, and a reader waiting for attachments still refuses text", () => {
    const cache = new FrameCache();
    const reader = new PacketReader({ cache });
    const header = '51-["file",{"_placeholder":true,"num":0}]';
    assert.deepEqual(reader.read(header), { ok: true, packet: undefined });
    assert.equal(cache.size, 0);
    const other = new PacketReader({ cache });
    packetOf(other.read('2["msg",1]'));
    // The text is cached now, but this reader expects an attachment: the cache must not hide that.
    const refused = reader.read('2["msg",1]');
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.reason, "missing attachments");
    const fresh = new PacketReader({ cache });
    assert.deepEqual(fresh.read(header), { ok: true, packet: undefined });
    const complete = packetOf(fresh.read(Buffer.from("abc")));
    assert.deepEqual(complete.data, ["file", Buffer.from("abc")]);
  });

  it("caches no malformed text: every reader reports it", () => {
    const cache = new FrameCache();
    for (const reader of [new PacketReader({ cache }), new PacketReader({ cache })]) {
      const result = reader.read('2["msg",');
      assert.equal(result.ok, false);
    }
    assert.equal(cache.size, 0);
  });

  it("stays within its bounds, oldest first, and skips long texts", () => {
    const cache = new FrameCache({ maxEntries: 3, maxChars: 1_000, maxTextLength: 100 });
    const reader = new PacketReader({ cache });
    for (let i = 0; i < 5; i++) packetOf(reader.read(`2["msg",${i}]`));
    assert.equal(cache.size, 3);
    packetOf(reader.read('2["msg",0]'));
    assert.equal(cache.misses, 6, "the oldest entries were dropped");
    packetOf(reader.read(`2["msg","${"x".repeat(200)}"]`));
    assert.equal(cache.size, 3);
    const byChars = new FrameCache({ maxEntries: 100, maxChars: 50 });
    const second = new PacketReader({ cache: byChars });
    for (let i = 0; i < 10; i++) packetOf(second.read(`2["msg","${i}${"y".repeat(10)}"]`));
    assert.ok(byChars.size <= 2, `${byChars.size} entries of ~20 characters within 50`);
  });
});

describe("shadow payload keys: memoized per argument list, still mapped per session", () => {
  const rule = compileRule({ event: "msg", ignore: ["ts"], tolerance: 0, unordered: false });

  it("computes the same key for a shared list and for an equal copy", () => {
    const args = [{ text: "hi", ts: 1 }];
    const first = payloadKey(args, rule);
    assert.equal(payloadKey(args, rule), first);
    assert.equal(payloadKey([{ text: "hi", ts: 2 }], rule), first);
    // Another rule on the same list: its own key.
    assert.notEqual(payloadKey(args, NO_RULE), first);
    assert.equal(payloadKey(args, rule), first);
  });

  it("maps a shadow id inside a shared list, for the session whose id it is only", () => {
    const shared = [{ from: "shadow-sid", text: "hi" }, ["a", { "shadow-sid": true }]];
    const unmapped = payloadKey(shared, NO_RULE);
    const mine = new IdMapping();
    mine.set("/", "primary-sid", "shadow-sid");
    const someoneElse = new IdMapping();
    someoneElse.set("/", "primary-other", "shadow-other");
    const mapped = payloadKey(shared, NO_RULE, mine.map);
    assert.notEqual(mapped, unmapped);
    assert.equal(mapped, payloadKey([{ from: "primary-sid", text: "hi" }, ["a", { "primary-sid": true }]], NO_RULE));
    assert.equal(payloadKey(shared, NO_RULE, someoneElse.map), unmapped);
    assert.equal(payloadKey(shared, NO_RULE), unmapped);
  });

  it("replaces long keys by a fingerprint: equal payloads equal, different ones different", () => {
    const long = (tail: string) => [{ text: `${"x".repeat(100)}${tail}` }];
    const key = payloadKey(long("a"), NO_RULE);
    assert.ok(key.length < 64, key);
    assert.equal(payloadKey(long("a"), NO_RULE), key);
    assert.notEqual(payloadKey(long("b"), NO_RULE), key);
  });
});
