import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeFrame,
  encodeMessage,
  engineCloseCode,
  EngineIoFrameError,
  parseHandshake,
  revisionOf,
} from "../../src/protocol/engineio.js";

describe("Engine.IO framing of backend sessions", () => {
  const cases: { name: string; revision: 3 | 4; frame: Buffer; binary: boolean; type: string; data: string | Buffer }[] = [
    { name: "v4 open", revision: 4, frame: Buffer.from('0{"sid":"a"}'), binary: false, type: "open", data: '{"sid":"a"}' },
    { name: "v4 ping", revision: 4, frame: Buffer.from("2"), binary: false, type: "ping", data: "" },
    { name: "v3 pong", revision: 3, frame: Buffer.from("3"), binary: false, type: "pong", data: "" },
    { name: "v4 message", revision: 4, frame: Buffer.from('42["hi"]'), binary: false, type: "message", data: '2["hi"]' },
    { name: "v4 binary message", revision: 4, frame: Buffer.from([1, 2, 3]), binary: true, type: "message", data: Buffer.from([1, 2, 3]) },
    {
      name: "v3 binary message",
      revision: 3,
      frame: Buffer.from([4, 1, 2, 3]),
      binary: true,
      type: "message",
      data: Buffer.from([1, 2, 3]),
    },
    { name: "close", revision: 3, frame: Buffer.from("1"), binary: false, type: "close", data: "" },
    { name: "noop", revision: 4, frame: Buffer.from("6"), binary: false, type: "noop", data: "" },
    { name: "utf-8 text", revision: 4, frame: Buffer.from('42["é✓😀"]'), binary: false, type: "message", data: '2["é✓😀"]' },
  ];
  for (const c of cases) {
    it(`decodes ${c.name}`, () => {
      const frame = decodeFrame(c.revision, c.frame, c.binary);
      assert.equal(frame.type, c.type);
      assert.deepEqual(frame.data, c.data);
    });
  }

  it("rejects unknown packet types and v3 binary frames without the type byte", () => {
    assert.throws(() => decodeFrame(4, Buffer.from("9"), false), EngineIoFrameError);
    assert.throws(() => decodeFrame(3, Buffer.from([1, 2]), true), EngineIoFrameError);
    assert.throws(() => decodeFrame(3, Buffer.alloc(0), true), EngineIoFrameError);
  });

  it("encodes messages per revision", () => {
    assert.equal(encodeMessage(4, '2["a"]'), '42["a"]');
    assert.equal(encodeMessage(3, '2["a"]'), '42["a"]');
    assert.deepEqual(encodeMessage(4, Buffer.from([7])), Buffer.from([7]));
    assert.deepEqual(encodeMessage(3, Buffer.from([7, 8])), Buffer.from([4, 7, 8]));
  });

  it("parses and validates handshakes", () => {
    const v4 = parseHandshake('{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}');
    assert.deepEqual(v4, { sid: "abc", upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 });
    const v3 = parseHandshake('{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}');
    assert.equal(v3.maxPayload, undefined);
    assert.throws(() => parseHandshake("{"), /not JSON/);
    assert.throws(() => parseHandshake('{"pingInterval":1,"pingTimeout":1}'), /no sid/);
    assert.throws(() => parseHandshake('{"sid":"a","pingInterval":0,"pingTimeout":1}'), /pingInterval/);
  });

  it("maps the EIO parameter like engine.io does", () => {
    assert.equal(revisionOf("4"), 4);
    assert.equal(revisionOf("3"), 3);
    assert.equal(revisionOf(undefined), 3);
    assert.equal(revisionOf("5"), 3);
  });
});

describe("engine.io's close reasons", () => {
  it("code the client's bad Engine.IO input and nothing else (descriptions as engine.io 6.6.13 passes them)", () => {
    const table: [string | undefined, unknown, string | undefined][] = [
      ["parse error", undefined, "SWY_ERR_PROTOCOL_ENGINE_MALFORMED"],
      ["transport error", new Error("payload too large"), "SWY_ERR_PROTOCOL_TOO_LARGE"],
      ["transport error", new Error("RangeError: Max payload size exceeded"), "SWY_ERR_PROTOCOL_TOO_LARGE"],
      ["transport error", new Error("Error: Invalid WebSocket frame: invalid UTF-8 sequence"), "SWY_ERR_PROTOCOL_ENGINE_MALFORMED"],
      ["transport error", new Error("RangeError: Invalid WebSocket frame: invalid opcode 3"), "SWY_ERR_PROTOCOL_ENGINE_MALFORMED"],
      ["transport error", new Error("invalid heartbeat direction"), "SWY_ERR_PROTOCOL_ENGINE_MALFORMED"],
      ["transport error", new Error("poll connection closed prematurely"), undefined],
      ["transport close", undefined, undefined],
      ["ping timeout", undefined, undefined],
      ["forced close", undefined, undefined],
      [undefined, undefined, undefined],
    ];
    for (const [reason, description, code] of table)
      assert.equal(engineCloseCode(reason, description), code, `${reason} ${String(description)}`);
  });
});
