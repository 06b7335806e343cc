import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  closeReason,
  encodeConnectFrame,
  encodeDisconnectFrame,
  encodeMessageFrame,
  encodeRoomsFrame,
  HubFrameError,
  parseHubFrame,
  placeholdersResolve,
  resolvePlaceholders,
} from "../../src/protocol/hub-frames.js";

const LIMITS = { maxRooms: 3, maxRoomLength: 8 };
const parse = (frame: object) => parseHubFrame(JSON.stringify(frame), 10, LIMITS);

describe("parseHubFrame", () => {
  const valid: [string, object, object][] = [
    ["hello", { type: "hello", version: 1, server: "go-hub" }, { type: "hello", version: 1, server: "go-hub" }],
    ["connect reply", { type: "connect", nsp: "/", sid: "abc", extra: 1 }, { type: "connect", nsp: "/", sid: "abc" }],
    [
      "connect_error",
      { type: "connect_error", nsp: "/a", data: { message: "no", data: { code: 1 } } },
      { type: "connect_error", nsp: "/a", error: { message: "no", data: { code: 1 } }, invalidNamespace: false },
    ],
    [
      "connect_error without data",
      { type: "connect_error", nsp: "/a", data: { message: "no" } },
      { type: "connect_error", nsp: "/a", error: { message: "no" }, invalidNamespace: false },
    ],
    [
      "connect_error with null data",
      { type: "connect_error", nsp: "/", data: { message: "no", data: null } },
      { type: "connect_error", nsp: "/", error: { message: "no", data: null }, invalidNamespace: false },
    ],
    [
      "invalid namespace",
      { type: "connect_error", nsp: "/x", code: "invalid_namespace" },
      { type: "connect_error", nsp: "/x", error: { message: "Invalid namespace" }, invalidNamespace: true },
    ],
    ["event", { type: "event", nsp: "/", data: ["hi", 1] }, { type: "event", nsp: "/", data: ["hi", 1], id: undefined, attachments: 0 }],
    [
      "event with numeric name and id",
      { type: "event", nsp: "/", data: [3], id: 0 },
      { type: "event", nsp: "/", data: [3], id: 0, attachments: 0 },
    ],
    [
      "binary ack",
      { type: "ack", nsp: "/", id: 4, attachments: 2, data: [{ _placeholder: true, num: 1 }, [{ _placeholder: true, num: 0 }]] },
      { type: "ack", nsp: "/", id: 4, attachments: 2, data: [{ _placeholder: true, num: 1 }, [{ _placeholder: true, num: 0 }]] },
    ],
    ["empty ack", { type: "ack", nsp: "/", id: 4, data: [] }, { type: "ack", nsp: "/", id: 4, attachments: 0, data: [] }],
    ["disconnect", { type: "disconnect", nsp: "/" }, { type: "disconnect", nsp: "/", close: false }],
    ["disconnect close", { type: "disconnect", nsp: "/", close: true }, { type: "disconnect", nsp: "/", close: true }],
    ["unknown type", { type: "presence", attachments: 2 }, { type: "unknown", name: "presence", attachments: 2 }],
  ];
  for (const [name, frame, expected] of valid) {
    it(`accepts ${name}`, () => assert.deepEqual(parseHubFrame(JSON.stringify(frame), 10), expected));
  }

  const invalid: [string, string, RegExp][] = [
    ["not JSON", "{", /not JSON/],
    ["an array", "[1]", /not a JSON object/],
    ["no type", '{"nsp":"/"}', /type/],
    ["hello without version", '{"type":"hello"}', /version/],
    ["connect without sid", '{"type":"connect","nsp":"/"}', /sid/],
    ["nsp without slash", '{"type":"connect","nsp":"admin","sid":"x"}', /nsp/],
    ["connect_error without message", '{"type":"connect_error","nsp":"/","data":{}}', /message/],
    ["event without data", '{"type":"event","nsp":"/"}', /data/],
    ["event with reserved name", '{"type":"event","nsp":"/","data":["disconnect"]}', /data/],
    ["event with empty data", '{"type":"event","nsp":"/","data":[]}', /data/],
    ["event with negative id", '{"type":"event","nsp":"/","data":["a"],"id":-1}', /id/],
    ["ack without id", '{"type":"ack","nsp":"/","data":[]}', /id/],
    ["fractional attachments", '{"type":"event","nsp":"/","data":["a"],"attachments":1.5}', /attachments/],
    ["too many attachments", '{"type":"event","nsp":"/","data":["a"],"attachments":11}', /limit/],
    ["placeholder out of range", '{"type":"event","nsp":"/","data":["a",{"_placeholder":true,"num":1}],"attachments":1}', /placeholder/],
  ];
  for (const [name, text, reason] of invalid) {
    it(`refuses ${name}`, () =>
      assert.throws(
        () => parseHubFrame(text, 10),
        (e: unknown) => e instanceof HubFrameError && reason.test(e.message),
      ));
  }

  it("checks placeholders at any depth", () => {
    assert.equal(placeholdersResolve([{ a: [{ b: { _placeholder: true, num: 2 } }] }], 3), true);
    assert.equal(placeholdersResolve([{ a: [{ b: { _placeholder: true, num: 3 } }] }], 3), false);
    assert.equal(placeholdersResolve([{ _placeholder: true, num: "0" }], 3), false);
  });
});

describe("gateway frame encoders", () => {
  it("writes connect, message and disconnect frames", () => {
    assert.equal(encodeConnectFrame("/", {}, { a: "1" }, undefined), '{"type":"connect","nsp":"/","auth":{},"query":{"a":"1"}}');
    assert.equal(encodeConnectFrame("/x", { t: 1 }, {}, "/x#S"), '{"type":"connect","nsp":"/x","auth":{"t":1},"query":{},"sid":"/x#S"}');
    assert.equal(encodeMessageFrame("event", "/", 3, 2, '["a"]'), '{"type":"event","nsp":"/","id":3,"attachments":2,"data":["a"]}');
    assert.equal(encodeMessageFrame("ack", '/"q', undefined, 0, "[]"), '{"type":"ack","nsp":"/\\"q","data":[]}');
    assert.equal(encodeDisconnectFrame("/admin"), '{"type":"disconnect","nsp":"/admin"}');
  });

  it("keeps WebSocket close reasons within 123 bytes, cut on a character boundary", () => {
    assert.equal(closeReason("short"), "short");
    const long = closeReason("é".repeat(100));
    assert.ok(Buffer.byteLength(long) <= 123);
    assert.match(long, /^é+\.\.\.$/);
  });
});

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
