/** Table tests of the rooms frames (join, leave, broadcast), their translation, and the broadcast encoder. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeRoomsFrame, GATEWAY_ACK_ID_BASE, HubFrameError, parseHubFrame, resolvePlaceholders } from "../../src/protocol/hub-frames.js";
import { HubTranslator, type RoomEvents, type TranslationOutput } from "../../src/protocol/hub-translator.js";
import { encodePacketParts, PACKET_TYPE } from "../../src/protocol/socketio.js";
import type { SocketIoRevision } from "../../src/protocol/versions.js";

const LIMITS = { maxRooms: 3, maxRoomLength: 8 };
const parse = (frame: object) => parseHubFrame(JSON.stringify(frame), 10, LIMITS);

describe("rooms frames", () => {
  const valid: [string, object, object][] = [
    ["join", { type: "join", nsp: "/", rooms: ["r1", "r2"] }, { type: "join", nsp: "/", rooms: ["r1", "r2"] }],
    ["leave (extra fields ignored)", { type: "leave", nsp: "/a", rooms: ["r1"], x: 1 }, { type: "leave", nsp: "/a", rooms: ["r1"] }],
    ["join of no room", { type: "join", nsp: "/", rooms: [] }, { type: "join", nsp: "/", rooms: [] }],
    [
      "broadcast to rooms, except",
      { type: "broadcast", nsp: "/", rooms: ["r1"], except: ["sid"], data: ["msg", { a: 1 }] },
      { type: "broadcast", nsp: "/", rooms: ["r1"], except: ["sid"], data: ["msg", { a: 1 }], attachments: 0 },
    ],
    [
      "broadcast to the namespace",
      { type: "broadcast", nsp: "/", data: [7] },
      { type: "broadcast", nsp: "/", rooms: [], except: [], data: [7], attachments: 0 },
    ],
    [
      "binary broadcast",
      { type: "broadcast", nsp: "/", rooms: ["r"], attachments: 1, data: ["f", { _placeholder: true, num: 0 }] },
      { type: "broadcast", nsp: "/", rooms: ["r"], except: [], data: ["f", { _placeholder: true, num: 0 }], attachments: 1 },
    ],
  ];
  for (const [name, frame, expected] of valid) it(`accepts ${name}`, () => assert.deepEqual(parse(frame), expected));

  const invalid: [string, object, RegExp][] = [
    ["join without rooms", { type: "join", nsp: "/" }, /rooms/],
    ["join with a room that is not a string", { type: "join", nsp: "/", rooms: [1] }, /not a string/],
    ["join of too many rooms", { type: "join", nsp: "/", rooms: ["a", "b", "c", "d"] }, /limit 3/],
    ["a room name too long", { type: "leave", nsp: "/", rooms: ["123456789"] }, /limit 8/],
    ["leave without nsp", { type: "leave", rooms: ["a"] }, /nsp/],
    ["broadcast with rooms not an array", { type: "broadcast", nsp: "/", rooms: "r", data: ["a"] }, /rooms/],
    ["broadcast with too many excepts", { type: "broadcast", nsp: "/", except: ["a", "b", "c", "d"], data: ["a"] }, /except/],
    ["broadcast with an id", { type: "broadcast", nsp: "/", data: ["a"], id: 1 }, /no acks/],
    ["broadcast of a reserved event", { type: "broadcast", nsp: "/", data: ["connect"] }, /data/],
    ["broadcast without data", { type: "broadcast", nsp: "/" }, /data/],
    [
      "broadcast with a stray placeholder",
      { type: "broadcast", nsp: "/", attachments: 1, data: ["a", { _placeholder: true, num: 1 }] },
      /placeholder/,
    ],
  ];
  for (const [name, frame, reason] of invalid) {
    it(`refuses ${name}`, () =>
      assert.throws(
        () => parse(frame),
        (e: unknown) => e instanceof HubFrameError && reason.test(e.message),
      ));
  }

  it("resolves placeholders at any depth, copying only what holds one", () => {
    const plain = { keep: [1, 2] };
    const data = ["f", { a: [{ _placeholder: true, num: 1 }] }, plain, { _placeholder: true, num: 0 }];
    const resolved = resolvePlaceholders(data, [Buffer.from("x"), Buffer.from("y")]) as unknown[];
    assert.deepEqual(resolved, ["f", { a: [Buffer.from("y")] }, plain, Buffer.from("x")]);
    assert.equal(resolved[2], plain);
    assert.deepEqual(data[1], { a: [{ _placeholder: true, num: 1 }] }, "the frame's data was changed");
  });

  it("writes the gateway's join/leave frames", () => {
    assert.equal(encodeRoomsFrame("join", "/", ["a", "b"]), '{"type":"join","nsp":"/","rooms":["a","b"]}');
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

type Recorded = [keyof RoomEvents, ...unknown[]];

function harness(revision: SocketIoRevision) {
  const toHub: (string | Buffer)[] = [];
  const toClient: (string | Buffer)[] = [];
  const rooms: Recorded[] = [];
  const out: TranslationOutput = {
    toHub: (f) => toHub.push(f),
    toClient: (m) => toClient.push(m),
    socketOpened: (...args) => rooms.push(["socketOpened", ...args]),
    socketClosed: (...args) => rooms.push(["socketClosed", ...args]),
    joinRooms: (...args) => rooms.push(["joinRooms", ...args]),
    leaveRooms: (...args) => rooms.push(["leaveRooms", ...args]),
    broadcast: (...args) => rooms.push(["broadcast", ...args]),
    gatewayAck: (...args) => rooms.push(["gatewayAck", ...args]),
  };
  const translator = new HubTranslator({ revision, sessionId: "ENGINEID", query: {}, maxAttachments: 10 });
  translator.start(out);
  return {
    translator,
    out,
    toHub,
    toClient,
    rooms,
    client: (message: string | Buffer) => translator.fromClient(message, out),
    hub: (frame: object | Buffer) =>
      Buffer.isBuffer(frame) ? translator.fromHub(frame, true, out) : translator.fromHub(JSON.stringify(frame), false, out),
    take: () => ({ hub: toHub.splice(0), client: toClient.splice(0), rooms: rooms.splice(0) }),
  };
}

const OK = { ok: true, endSession: false };

describe("HubTranslator, rooms", () => {
  it("v5: the socket exists once the hub accepts (with its auth), before the client's CONNECT; join/leave follow", () => {
    const h = harness(5);
    h.client('0{"token":"t"}');
    assert.deepEqual(h.hub({ type: "join", nsp: "/", rooms: ["early"] }), OK);
    assert.deepEqual(h.take().rooms, [], "a join before the connect answer moved a socket");
    h.hub({ type: "connect", nsp: "/", sid: "S1" });
    h.hub({ type: "join", nsp: "/", rooms: ["a", "b"] });
    h.hub({ type: "leave", nsp: "/", rooms: ["a"] });
    h.hub({ type: "join", nsp: "/gone", rooms: ["x"] });
    assert.deepEqual(h.take(), {
      hub: [],
      client: ['0{"sid":"S1"}'],
      rooms: [
        ["socketOpened", "/", "S1", { token: "t" }],
        ["joinRooms", "/", ["a", "b"]],
        ["leaveRooms", "/", ["a"]],
      ],
    });
  });

  it("v4: / is opened unprompted with the derived sid; every way a socket ends is reported once", () => {
    const h = harness(4);
    h.hub({ type: "connect", nsp: "/", sid: "ENGINEID" });
    h.client("0/a,");
    h.hub({ type: "connect", nsp: "/a", sid: "/a#ENGINEID" });
    h.client("0/b,");
    h.hub({ type: "connect", nsp: "/b", sid: "/b#ENGINEID" });
    h.take();
    h.client("1/a,");
    assert.deepEqual(h.take().rooms, [["socketClosed", "/a"]], "client disconnect");
    h.hub({ type: "disconnect", nsp: "/b" });
    assert.deepEqual(h.take().rooms, [["socketClosed", "/b"]], "hub disconnect");
    assert.deepEqual(h.hub({ type: "disconnect", nsp: "/", close: true }), { ok: true, endSession: true });
    assert.deepEqual(h.take().rooms, [["socketClosed", "/"]], "session close");
  });

  it("broadcast frames go to the rooms, on any link and for any namespace, never to this client directly", () => {
    const h = harness(5);
    assert.deepEqual(h.hub({ type: "broadcast", nsp: "/x", rooms: ["r"], except: ["s"], data: ["m", 1] }), OK);
    assert.deepEqual(h.take(), { hub: [], client: [], rooms: [["broadcast", "/x", ["r"], ["s"], ["m", 1]]] });
  });

  it("binary broadcasts: the announced frames are collected and the placeholders resolved", () => {
    const h = harness(5);
    h.hub({ type: "broadcast", nsp: "/", attachments: 2, data: ["f", { _placeholder: true, num: 1 }, { _placeholder: true, num: 0 }] });
    assert.deepEqual(h.take().rooms, []);
    h.hub(Buffer.from("zero"));
    h.hub(Buffer.from("one"));
    assert.deepEqual(h.take(), {
      hub: [],
      client: [],
      rooms: [["broadcast", "/", [], [], ["f", Buffer.from("one"), Buffer.from("zero")]]],
    });
    h.hub({ type: "broadcast", nsp: "/", attachments: 1, data: ["f", { _placeholder: true, num: 0 }] });
    const verdict = h.hub({ type: "event", nsp: "/", data: ["x"] });
    assert.equal(verdict.ok, false, "a text frame between a broadcast and its attachments was accepted");
  });

  it("a client's ack for a gateway-numbered event goes to the gateway, not the hub; lower ids go to the hub", () => {
    const h = harness(5);
    h.client("0");
    h.hub({ type: "connect", nsp: "/", sid: "S" });
    h.take();
    assert.deepEqual(h.client(`3${GATEWAY_ACK_ID_BASE + 2}["yes",1]`), OK);
    assert.deepEqual(h.client(`61-${GATEWAY_ACK_ID_BASE}[{"_placeholder":true,"num":0}]`), OK);
    assert.deepEqual(h.client(Buffer.from([1])), OK);
    assert.deepEqual(h.client('35["hub"]'), OK);
    assert.deepEqual(h.take(), {
      hub: ['{"type":"ack","nsp":"/","id":5,"data":["hub"]}'],
      client: [],
      rooms: [["gatewayAck", "/", GATEWAY_ACK_ID_BASE + 2, ["yes", 1]]],
    });
  });

  it("serverDisconnect: the client gets DISCONNECT and the hub a disconnect frame; with close the session ends", () => {
    const h = harness(5);
    h.client("0");
    h.hub({ type: "connect", nsp: "/", sid: "S" });
    h.client("0/a,");
    h.hub({ type: "connect", nsp: "/a", sid: "SA" });
    h.take();
    assert.deepEqual(h.translator.serverDisconnect("/a", false, h.out), OK);
    assert.deepEqual(h.take(), { hub: ['{"type":"disconnect","nsp":"/a"}'], client: ["1/a,"], rooms: [["socketClosed", "/a"]] });
    assert.deepEqual(h.translator.serverDisconnect("/a", false, h.out), OK, "a second disconnect is a no-op");
    assert.deepEqual(h.translator.serverDisconnect("/", true, h.out), { ok: true, endSession: true });
    assert.deepEqual(h.take(), { hub: [], client: ["1"], rooms: [["socketClosed", "/"]] });
  });
});
