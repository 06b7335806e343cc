import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InboundPacketStream } from "../../src/protocol/packet-stream.js";

describe("inbound packet stream", () => {
  it("refuses an empty message (engine.io emits undefined for a bare `4`), as socket.io-parser does", () => {
    const stream = new InboundPacketStream(10);
    const empty = stream.accept(undefined);
    assert.equal(!empty.ok && empty.code, "SWY_ERR_PROTOCOL_MALFORMED");
    const other = stream.accept(new Uint8Array([1]) as unknown as Buffer);
    assert.equal(other.ok, false, "only strings and Buffers are messages");
  });

  it("accepts binary attachments only when announced, in number", () => {
    const stream = new InboundPacketStream(10);
    assert.equal(stream.accept('52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]').ok, true);
    assert.equal(stream.awaitingAttachments, true);
    assert.equal(stream.accept(Buffer.from([1])).ok, true);
    const early = stream.accept('2["a"]');
    assert.equal(early.ok, false);
    assert.equal(!early.ok && early.code, "SWY_ERR_PROTOCOL_MALFORMED");
    const fresh = new InboundPacketStream(10);
    const stray = fresh.accept(Buffer.from([1]));
    assert.equal(!stray.ok && stray.code, "SWY_ERR_PROTOCOL_UNEXPECTED_BINARY");
  });

  it("codes each failure", () => {
    const stream = new InboundPacketStream(2);
    const tooMany = stream.accept('53-["a"]');
    assert.equal(!tooMany.ok && tooMany.code, "SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS");
    const bad = new InboundPacketStream(2).accept("2[");
    assert.equal(!bad.ok && bad.code, "SWY_ERR_PROTOCOL_MALFORMED");
  });
});
