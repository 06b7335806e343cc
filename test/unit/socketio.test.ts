import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GATEWAY_ACK_ID_BASE } from "../../src/protocol/hub-frames.js";
import {
  decodePacket,
  encodePacket,
  encodePacketParts,
  namespaceName,
  PACKET_TYPE,
  PacketDecodeError,
  parseHeader,
} from "../../src/protocol/socketio.js";

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

describe("encodePacketParts (the broadcast encoding)", () => {
  const cases: [string, Parameters<typeof encodePacketParts>[0], (string | Buffer)[]][] = [
    ["an event", { type: PACKET_TYPE.EVENT, nsp: "/", data: ["m", { a: 1 }] }, ['2["m",{"a":1}]']],
    ["an event in a namespace", { type: PACKET_TYPE.EVENT, nsp: "/chat", data: ["m"] }, ['2/chat,["m"]']],
    ["BINARY_EVENT type without binary", { type: PACKET_TYPE.BINARY_EVENT, nsp: "/", data: ["m"] }, ['2["m"]']],
    [
      "binary at any depth",
      { type: PACKET_TYPE.EVENT, nsp: "/", data: ["m", { b: Buffer.from([1]) }, new Uint8Array([2, 3]).buffer] },
      ['52-["m",{"b":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]', Buffer.from([1]), Buffer.from([2, 3])],
    ],
    [
      "a binary event with an ack id in a namespace",
      { type: PACKET_TYPE.EVENT, nsp: "/a", id: GATEWAY_ACK_ID_BASE, data: ["m", Buffer.from([9])] },
      [`51-/a,${GATEWAY_ACK_ID_BASE}["m",{"_placeholder":true,"num":0}]`, Buffer.from([9])],
    ],
  ];
  for (const [name, packet, expected] of cases) it(name, () => assert.deepEqual(encodePacketParts(packet), expected));
});
