import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeLinkBinary,
  encodeCloseFrame,
  encodeFlowFrame,
  encodeLinkBinary,
  encodeLinkText,
  encodeOpenFrame,
  isLinkSessionId,
  LinkFrameError,
  parseLinkFrame,
} from "../../src/protocol/hub-link-frames.js";
import { encodeConnectFrame, encodeMessageFrame } from "../../src/protocol/hub-frames.js";

const S = "zrvptWsY9CxHC716V2zJ";
const parse = (frame: object) => parseLinkFrame(JSON.stringify(frame));

describe("parseLinkFrame", () => {
  const valid: [string, object, object][] = [
    ["hello", { type: "hello", version: 2, server: "go-hub" }, { type: "hello", version: 2, server: "go-hub", maxSessions: undefined }],
    [
      "hello with maxSessions",
      { type: "hello", version: 2, maxSessions: 500 },
      { type: "hello", version: 2, server: undefined, maxSessions: 500 },
    ],
    ["opened", { type: "opened", session: S, extra: true }, { type: "opened", session: S }],
    ["close", { type: "close", session: S, code: 1008, reason: "no" }, { type: "close", session: S, code: 1008, reason: "no" }],
    ["close without reason", { type: "close", session: S, code: 4400 }, { type: "close", session: S, code: 4400, reason: "" }],
    [
      "a v1 frame of a session",
      { type: "event", session: S, nsp: "/", data: ["a"] },
      { type: "session", session: S, frame: { type: "event", session: S, nsp: "/", data: ["a"] } },
    ],
    [
      "an unknown type of a session goes to the session",
      { type: "later", session: S },
      { type: "session", session: S, frame: { type: "later", session: S } },
    ],
    ["an unknown link type is ignored", { type: "later", x: 1 }, { type: "unknown", name: "later" }],
  ];
  for (const [name, frame, expected] of valid) it(`accepts ${name}`, () => assert.deepEqual(parse(frame), expected));

  const invalid: [string, string][] = [
    ["not JSON", "{"],
    ["not an object", "[1]"],
    ["no type", JSON.stringify({ session: S })],
    ["hello without version", JSON.stringify({ type: "hello" })],
    ["hello with a session", JSON.stringify({ type: "hello", version: 2, session: S })],
    ["hello with maxSessions 0", JSON.stringify({ type: "hello", version: 2, maxSessions: 0 })],
    ["opened without session", JSON.stringify({ type: "opened" })],
    ["close without session", JSON.stringify({ type: "close", code: 1000 })],
    ["close without code", JSON.stringify({ type: "close", session: S })],
    ["close with code 3000", JSON.stringify({ type: "close", session: S, code: 3000 })],
    ["event without session", JSON.stringify({ type: "event", nsp: "/", data: ["a"] })],
    ["broadcast without session", JSON.stringify({ type: "broadcast", nsp: "/", data: ["a"] })],
    ["a session id with a quote", JSON.stringify({ type: "opened", session: 'a"b' })],
    ["a session id of 65 characters", JSON.stringify({ type: "opened", session: "a".repeat(65) })],
    ["a numeric session", JSON.stringify({ type: "event", session: 7, nsp: "/", data: ["a"] })],
  ];
  for (const [name, text] of invalid) it(`refuses ${name}`, () => assert.throws(() => parseLinkFrame(text), LinkFrameError));
});

describe("link session frames", () => {
  it("splices the session into every v1 frame the gateway writes, which stays valid JSON", () => {
    const frames = [
      encodeConnectFrame("/", { token: "t" }, { name: "alice" }, undefined),
      encodeMessageFrame("event", "/admin", 3, 1, '["up",{"_placeholder":true,"num":0}]'),
    ];
    for (const frame of frames) {
      const linked = encodeLinkText(S, frame);
      assert.deepEqual(JSON.parse(linked), { session: S, ...JSON.parse(frame) });
      const parsed = parseLinkFrame(linked);
      assert.equal(parsed.type, "session");
    }
  });

  it("open carries what a v1 hub reads from the upgrade", () => {
    const opening = { session: S, eio: 3 as const, query: { name: "a" }, headers: { cookie: "c=1" }, address: "10.0.0.1", shadow: false };
    assert.deepEqual(JSON.parse(encodeOpenFrame(opening)), {
      type: "open",
      session: S,
      eio: 3,
      query: { name: "a" },
      headers: { cookie: "c=1" },
      address: "10.0.0.1",
    });
    assert.equal(JSON.parse(encodeOpenFrame({ ...opening, shadow: true })).shadow, true);
  });

  it("close and flow frames", () => {
    assert.deepEqual(JSON.parse(encodeCloseFrame(S, 1000, "bye")), { type: "close", session: S, code: 1000, reason: "bye" });
    assert.deepEqual(JSON.parse(encodeFlowFrame(S, "pause")), { type: "pause", session: S });
    assert.deepEqual(parse(JSON.parse(encodeCloseFrame(S, 4400, "x"))), { type: "close", session: S, code: 4400, reason: "x" });
  });
});

describe("link binary frames", () => {
  it("round-trips a session's bytes, empty ones included", () => {
    for (const bytes of [Buffer.from([1, 2, 3]), Buffer.alloc(0), Buffer.alloc(70_000, 7)]) {
      const frame = encodeLinkBinary(S, bytes);
      assert.equal(frame[0], S.length);
      const decoded = decodeLinkBinary(frame);
      assert.equal(decoded.session, S);
      assert.deepEqual(decoded.bytes, bytes);
    }
  });

  const invalid: [string, Buffer][] = [
    ["an empty frame", Buffer.alloc(0)],
    ["a zero length", Buffer.from([0, 1, 2])],
    ["a prefix longer than the frame", Buffer.from([30, 65, 66])],
    ["a prefix that is not an id", Buffer.from([2, 0x22, 0x41, 1])],
  ];
  for (const [name, frame] of invalid) it(`refuses ${name}`, () => assert.throws(() => decodeLinkBinary(frame), LinkFrameError));

  it("session ids are base64url of 1 to 64 characters", () => {
    assert.equal(isLinkSessionId(S), true);
    assert.equal(isLinkSessionId("/admin#x"), false);
    assert.equal(isLinkSessionId(""), false);
  });
});
