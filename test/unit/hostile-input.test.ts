/**
 * Table tests of the client-facing decoders with hostile input (issue 9: `40//[,` from a raw Engine.IO v3
 * client killed the gateway through `new URL` in the hub translator). Each decoder either answers with a
 * verdict/coded failure or throws only its own documented error type; nothing else escapes. The namespace
 * table was checked against a real socket.io 4.8 server (test/integration/namespace-parity.test.ts compares
 * the gateway and socket.io on the wire for the same inputs).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HubTranslator, type TranslationVerdict } from "../../src/protocol/hub-translator.js";
import { parseClientNamespace } from "../../src/protocol/namespace.js";
import { InboundPacketStream } from "../../src/protocol/packet-stream.js";
import { decodePacket, PacketDecodeError, parseHeader } from "../../src/protocol/socketio.js";
import type { SocketIoRevision } from "../../src/protocol/versions.js";
import { PacketReader } from "../../src/shadow/packet-reader.js";
import { HOSTILE_NAMESPACES, HOSTILE_PACKETS } from "../helpers/fuzz/corpus.js";

const SID = "ENGINEIDENGINEIDENGI";
const REVISIONS: readonly SocketIoRevision[] = [4, 5];

/** [raw namespace, socket.io 4.8's namespace for a v4 (2.x) client, its auth] or undefined: the connection closes. */
const V4_NAMESPACES: readonly [string, string | undefined, Record<string, string>?][] = [
  ["/", "/"],
  ["/admin", "/admin", {}],
  ["//", undefined],
  ["//[", undefined],
  ["//:99999", undefined],
  ["//@", undefined],
  ["///", undefined],
  ["//x", "/"],
  ["//x/y", "/y"],
  ["//x:0", "/"],
  ["//[::1]", "/"],
  ["/%zz", "/%zz"],
  ["/%2e%2e", "/"],
  ["/..", "/"],
  ["/a/../b", "/b"],
  ["/a\\b", "/a/b"],
  ["/a#b", "/a"],
  ["/a b", "/a%20b"],
  ["/\u0000", "/"],
  ["/\t", "/"],
  ["/?", "/", {}],
  ["/a?b=1&c", "/a", { b: "1", c: "" }],
  ["/a?x=1&x=2", "/a", { x: "2" }],
  ["/é", "/%C3%A9"],
  ["/\ud800", "/%EF%BF%BD"],
  [`/${"a".repeat(5000)}`, `/${"a".repeat(5000)}`],
];

describe("parseClientNamespace: socket.io's reading of a namespace", () => {
  for (const [raw, name, auth] of V4_NAMESPACES) {
    it(`v4 ${JSON.stringify(raw.slice(0, 24))} → ${name === undefined ? "refused" : JSON.stringify(name.slice(0, 24))}`, () => {
      const parsed = parseClientNamespace(raw, 4);
      if (name === undefined) {
        assert.equal(parsed.ok, false);
        if (!parsed.ok) assert.match(parsed.detail, /is not a valid URL path/);
        return;
      }
      assert.ok(parsed.ok);
      assert.equal(parsed.name, name);
      if (auth !== undefined) assert.deepEqual({ ...parsed.auth }, auth);
    });
  }

  it("a query parameter named __proto__ is a plain key of the auth, not a prototype", () => {
    const parsed = parseClientNamespace("/a?__proto__=1", 4);
    assert.ok(parsed.ok && parsed.auth !== undefined);
    assert.ok(Object.hasOwn(parsed.auth, "__proto__"));
    assert.equal(Object.getPrototypeOf(parsed.auth), Object.prototype);
  });

  it("v5 namespaces are taken as they are (socket.io does not parse them), hostile ones included", () => {
    for (const raw of HOSTILE_NAMESPACES) assert.deepEqual(parseClientNamespace(raw, 5), { ok: true, name: raw, auth: undefined });
  });

  it("never throws on any hostile namespace", () => {
    for (const raw of [...HOSTILE_NAMESPACES, ...V4_NAMESPACES.map(([raw]) => raw)])
      assert.doesNotThrow(() => parseClientNamespace(raw, 4));
  });
});

/** A translator whose "/" is connected (v4: the hub answered the unprompted connect; v5: the client asked). */
function connectedTranslator(revision: SocketIoRevision) {
  const toHub: string[] = [];
  const out = { toHub: (f: string | Buffer) => void toHub.push(String(f)), toClient: () => {} };
  const translator = new HubTranslator({ revision, sessionId: SID, query: {}, maxAttachments: 10 });
  translator.start(out);
  if (revision === 5) translator.fromClient("0", out);
  assert.equal(translator.fromHub(JSON.stringify({ type: "connect", nsp: "/", sid: SID }), false, out).ok, true);
  toHub.length = 0;
  return { translator, toHub, client: (message: string | Buffer): TranslationVerdict => translator.fromClient(message, out) };
}

describe("HubTranslator with hostile namespaces", () => {
  it('the reproduction of issue 9: `40//[,` and `42//[,["x"]` from a 2.x client are refused, not thrown', () => {
    for (const packet of ["40//[,", '42//[,["x"]']) {
      const { client, toHub } = connectedTranslator(4);
      const verdict = client(packet.slice(1));
      assert.deepEqual(verdict, {
        ok: false,
        code: "SWY_ERR_PROTOCOL_INVALID_NAMESPACE",
        detail: 'namespace "//[" is not a valid URL path',
      });
      assert.deepEqual(toHub, [], "nothing reaches the hub");
    }
  });

  for (const revision of REVISIONS) {
    it(`v${revision}: a CONNECT for every hostile namespace asks the hub for socket.io's namespace, or is refused`, () => {
      for (const raw of HOSTILE_NAMESPACES) {
        const { client, toHub } = connectedTranslator(revision);
        const parsed = parseClientNamespace(raw, revision);
        const verdict = client(`0${raw},`);
        if (!parsed.ok) {
          assert.equal(verdict.ok ? "ok" : verdict.code, "SWY_ERR_PROTOCOL_INVALID_NAMESPACE", raw);
          continue;
        }
        if (parsed.name === "/") {
          // socket.io: a CONNECT for a namespace already joined closes the connection ("invalid state").
          assert.equal(verdict.ok ? "ok" : verdict.code, "SWY_ERR_PROTOCOL_INVALID_STATE", raw);
          continue;
        }
        assert.deepEqual(verdict, { ok: true, endSession: false }, raw);
        assert.equal(toHub.length, 1, raw);
        const frame = JSON.parse(toHub[0]!) as { type: string; nsp: string; auth: unknown };
        assert.equal(frame.type, "connect");
        assert.equal(frame.nsp, parsed.name, raw);
        assert.deepEqual(frame.auth, parsed.auth ?? {}, raw);
      }
    });

    it(`v${revision}: an EVENT for every hostile namespace goes to socket.io's namespace, or is refused`, () => {
      for (const raw of HOSTILE_NAMESPACES) {
        const { client, toHub } = connectedTranslator(revision);
        const parsed = parseClientNamespace(raw, revision);
        const verdict = client(`2${raw},["x"]`);
        const expected = !parsed.ok ? "SWY_ERR_PROTOCOL_INVALID_NAMESPACE" : parsed.name === "/" ? "ok" : "SWY_ERR_PROTOCOL_INVALID_STATE";
        assert.equal(verdict.ok ? "ok" : verdict.code, expected, raw);
        if (expected === "ok") assert.deepEqual(JSON.parse(toHub[0]!), { type: "event", nsp: "/", data: ["x"] });
      }
    });
  }
});

/** Every hostile packet, plus every hostile namespace in every packet type. */
function hostileMessages(): string[] {
  const messages = [...HOSTILE_PACKETS];
  for (const nsp of HOSTILE_NAMESPACES) {
    for (const body of [",", ',["x"]', ',1["x"]', ',{"token":"x"}', ""])
      for (const type of "0123456") messages.push(`${type}${nsp}${body}`);
    messages.push(`51-${nsp},["x",{"_placeholder":true,"num":0}]`);
  }
  return messages;
}

describe("packet decoders never throw anything but their own error on hostile packets", () => {
  const messages = hostileMessages();

  it(`parseHeader and decodePacket throw only PacketDecodeError (${messages.length} messages)`, () => {
    for (const message of messages) {
      for (const decode of [parseHeader, decodePacket]) {
        try {
          decode(message, 10);
        } catch (error) {
          assert.ok(error instanceof PacketDecodeError, `${JSON.stringify(message.slice(0, 40))}: ${String(error)}`);
        }
      }
    }
  });

  it("InboundPacketStream answers every message with a verdict, coded when refused", () => {
    const stream = new InboundPacketStream(10);
    for (const message of messages) {
      const verdict = stream.accept(message);
      if (!verdict.ok) assert.match(verdict.code, /^SWY_ERR_PROTOCOL_/);
      if (stream.awaitingAttachments) stream.accept(Buffer.from([1]));
    }
    assert.equal(stream.accept(Buffer.from([1])).ok, false, "an unannounced binary message is refused");
  });

  it("PacketReader (shadow) answers every message, failures coded SWY_ERR_SHADOW", () => {
    const reader = new PacketReader({ maxAttachments: 10 });
    for (const message of messages) {
      const read = reader.read(message);
      if (!read.ok) assert.equal(read.code, "SWY_ERR_SHADOW");
      reader.read(Buffer.from([1]));
    }
  });

  for (const revision of REVISIONS) {
    it(`HubTranslator v${revision} answers every message with a verdict`, () => {
      for (const message of messages) {
        const { client } = connectedTranslator(revision);
        const verdict = client(message);
        if (!verdict.ok) assert.match(verdict.code, /^SWY_ERR_PROTOCOL_/, JSON.stringify(message.slice(0, 40)));
        // Binary frames after it, announced or not, are judged too.
        const after = client(Buffer.from([1, 2, 3]));
        if (!after.ok) assert.match(after.code, /^SWY_ERR_PROTOCOL_/);
      }
    });
  }
});
