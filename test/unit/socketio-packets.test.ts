import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InboundPacketStream } from "../../src/protocol/packet-stream.js";
import { decodePacket, encodePacket, namespaceName, PacketDecodeError, parseHeader } from "../../src/protocol/socketio.js";
import { derivedSocketId, encodeConnectError, socketIoRevisionOf } from "../../src/protocol/versions.js";

describe("Socket.IO packet codec", () => {
  const valid: [string, { type: number; nsp: string; id?: number; attachments?: number; data?: unknown }][] = [
    ["0", { type: 0, nsp: "/" }],
    ['0{"token":"x"}', { type: 0, nsp: "/", data: { token: "x" } }],
    ["0/admin,", { type: 0, nsp: "/admin" }],
    ["0/admin?role=admin,", { type: 0, nsp: "/admin?role=admin" }],
    ["1", { type: 1, nsp: "/" }],
    ["1/admin,", { type: 1, nsp: "/admin" }],
    ['2["hello",1]', { type: 2, nsp: "/", data: ["hello", 1] }],
    ['2/admin,12["ev"]', { type: 2, nsp: "/admin", id: 12, data: ["ev"] }],
    ['27["ev",{"a":[1,2]}]', { type: 2, nsp: "/", id: 7, data: ["ev", { a: [1, 2] }] }],
    ["3/admin,12[]", { type: 3, nsp: "/admin", id: 12, data: [] }],
    ['4{"message":"Invalid namespace"}', { type: 4, nsp: "/", data: { message: "Invalid namespace" } }],
    ['4/x,"nope"', { type: 4, nsp: "/x", data: "nope" }],
    ['51-["up",{"_placeholder":true,"num":0}]', { type: 5, nsp: "/", attachments: 1, data: ["up", { _placeholder: true, num: 0 }] }],
    [
      '62-/admin,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
      {
        type: 6,
        nsp: "/admin",
        id: 3,
        attachments: 2,
        data: [
          { _placeholder: true, num: 0 },
          { _placeholder: true, num: 1 },
        ],
      },
    ],
  ];
  for (const [wire, expected] of valid) {
    it(`decodes and re-encodes ${wire}`, () => {
      const packet = decodePacket(wire, 10);
      assert.equal(packet.type, expected.type);
      assert.equal(packet.nsp, expected.nsp);
      assert.equal(packet.id, expected.id);
      assert.equal(packet.attachments, expected.attachments);
      assert.deepEqual(packet.data, expected.data);
      assert.equal(encodePacket(packet), wire);
    });
  }

  const invalid: [string, string][] = [
    ["", "empty packet"],
    ["7", "unknown packet type"],
    ["x", "unknown packet type"],
    ['5["a"]', "illegal attachments"],
    ['50-["a"]', "illegal attachments"],
    ['511-["a"]', "too many attachments"],
    ["2[", "invalid payload"],
    ['2{"a":1}', "invalid payload"],
    ['2["disconnect"]', "invalid payload"],
    ['2[{"a":1}]', "invalid payload"],
    ['1{"a":1}', "invalid payload"],
    ['0"str"', "invalid payload"],
    ["3{}", "invalid payload"],
    ['2999999999999999999999["a"]', "illegal ack id"],
  ];
  for (const [wire, reason] of invalid) {
    it(`rejects ${JSON.stringify(wire)} (${reason})`, () => {
      assert.throws(
        () => decodePacket(wire, 10),
        (error: unknown) => error instanceof PacketDecodeError && error.reason === reason,
      );
    });
  }

  it("parses headers without touching the body", () => {
    const header = parseHeader('2/chat,42["x"', 10);
    assert.deepEqual(header, { type: 2, nsp: "/chat", id: 42, attachments: 0, dataStart: 9 });
  });

  it("strips 2.x namespace queries", () => {
    assert.equal(namespaceName("/admin?role=admin"), "/admin");
    assert.equal(namespaceName("/"), "/");
  });
});

describe("protocol revisions", () => {
  it("maps Engine.IO to Socket.IO revisions", () => {
    assert.equal(socketIoRevisionOf(3), 4);
    assert.equal(socketIoRevisionOf(4), 5);
  });

  it("writes CONNECT_ERROR like socket.io 4.8 for each revision", () => {
    assert.equal(encodeConnectError(5, "/", "not authorized", { code: 42 }), '4{"message":"not authorized","data":{"code":42}}');
    assert.equal(encodeConnectError(5, "/x", "nope"), '4/x,{"message":"nope"}');
    assert.equal(encodeConnectError(4, "/", "not authorized", { code: 42 }), '4{"code":42}');
    assert.equal(encodeConnectError(4, "/", "not authorized"), '4"not authorized"');
  });

  it("derives 2.x socket ids from the engine id", () => {
    assert.equal(derivedSocketId("abc", "/"), "abc");
    assert.equal(derivedSocketId("abc", "/admin"), "/admin#abc");
  });
});

describe("inbound packet stream", () => {
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
