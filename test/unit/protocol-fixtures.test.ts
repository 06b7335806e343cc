/**
 * Table tests of the pure protocol code against the compat fixtures: every Socket.IO packet a real client
 * (2.x, 3.x, 4.x) or the real socket.io 4 server put on the wire while the fixtures were recorded (their
 * `raw` section) must decode and re-encode to the same text, and parse to the header socket.io-parser (the
 * very copy the socket.io server uses) sees; every recorded client→server stream must pass the inbound
 * validator in order; and malformed packets must be refused with the right SWY_ERR code.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { SETTINGS } from "../../src/config/settings.js";
import type { ErrorCode } from "../../src/errors.js";
import { InboundPacketStream } from "../../src/protocol/packet-stream.js";
import { decodePacket, encodePacket, PACKET_TYPE, parseHeader, PacketDecodeError, type PacketType } from "../../src/protocol/socketio.js";

type RawPacket = string | { readonly binary: number };
interface RawSession {
  readonly c2s: RawPacket[];
  readonly s2c: RawPacket[];
}
interface Fixture {
  readonly raw: Record<string, RawSession[]>;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "compat-fixtures", "transcripts");
const MAX_ATTACHMENTS = SETTINGS.MAX_ATTACHMENTS.defaultValue as number;

function fixtureFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? fixtureFiles(path) : name.endsWith(".json") ? [path] : [];
  });
}

const fixtures = fixtureFiles(ROOT)
  .sort()
  .map((path) => ({ name: relative(ROOT, path), fixture: JSON.parse(readFileSync(path, "utf8")) as Fixture }));

/** Socket.IO packets are the bodies of Engine.IO message packets (type 4). */
function socketIoPacket(packet: RawPacket): string | undefined {
  return typeof packet === "string" && packet.startsWith("4") ? packet.slice(1) : undefined;
}

const packets = new Map<string, string>(); // packet → first fixture it appears in
for (const { name, fixture } of fixtures) {
  for (const sessions of Object.values(fixture.raw)) {
    for (const session of sessions) {
      for (const packet of [...session.c2s, ...session.s2c].map(socketIoPacket)) {
        if (packet !== undefined && !packets.has(packet)) packets.set(packet, name);
      }
    }
  }
}

// The reference: socket.io-parser, declared in package.json at the exact version the socket.io server
// itself resolves (the first test checks that they are one and the same module).
const requireHere = createRequire(import.meta.url);
const referenceParser = requireHere("socket.io-parser") as {
  Decoder: new () => {
    on(event: "decoded", listener: (packet: ReferencePacket) => void): void;
    add(chunk: string | Buffer): void;
    destroy(): void;
  };
};
interface ReferencePacket {
  type: number;
  nsp: string;
  id?: number;
  attachments?: number;
  data?: unknown;
}

/**
 * Decodes one text packet the way socket.io-parser reads it off the wire (its `decodeString`, which also
 * validates). Not `add()`: for a binary packet that one rewrites the type to EVENT/ACK at once.
 */
function referenceDecode(packet: string): ReferencePacket {
  const decoder = new referenceParser.Decoder() as unknown as { decodeString(str: string): ReferencePacket };
  return decoder.decodeString(packet);
}

const TYPE_NAMES = Object.fromEntries(Object.entries(PACKET_TYPE).map(([name, type]) => [type, name])) as Record<PacketType, string>;

describe("protocol round trip of every recorded Socket.IO packet", () => {
  test("the reference socket.io-parser is the one the socket.io server uses", () => {
    const serverParser = createRequire(requireHere.resolve("socket.io")).resolve("socket.io-parser");
    assert.equal(requireHere.resolve("socket.io-parser"), serverParser, "declare socket.io-parser at socket.io's version");
  });

  test("the fixtures hold packets of every type", () => {
    const seen = new Set([...packets.keys()].map((packet) => Number(packet.charAt(0))));
    assert.deepEqual([...seen].sort(), Object.values(PACKET_TYPE).sort());
    assert.ok(packets.size >= 100, `only ${packets.size} distinct packets in ${fixtures.length} fixtures`);
  });

  for (const type of Object.values(PACKET_TYPE)) {
    const rows = [...packets].filter(([packet]) => packet.charAt(0) === String(type));
    test(`${TYPE_NAMES[type]} (${rows.length} packets)`, () => {
      const failures: string[] = [];
      for (const [packet, origin] of rows) {
        const where = `${JSON.stringify(packet.slice(0, 120))} (${origin})`;
        const header = parseHeader(packet, MAX_ATTACHMENTS);
        const decoded = decodePacket(packet, MAX_ATTACHMENTS);
        const reference = referenceDecode(packet);
        const expected = { type: reference.type, nsp: reference.nsp, id: reference.id, attachments: reference.attachments ?? 0 };
        const actual = { type: header.type, nsp: header.nsp, id: header.id, attachments: header.attachments };
        if (JSON.stringify(actual) !== JSON.stringify(expected))
          failures.push(`header ${JSON.stringify(actual)} != ${JSON.stringify(expected)}: ${where}`);
        if (encodePacket(decoded) !== packet)
          failures.push(`re-encoded as ${JSON.stringify(encodePacket(decoded).slice(0, 120))}: ${where}`);
        if (JSON.stringify(decoded.data) !== JSON.stringify(reference.data)) failures.push(`data differs: ${where}`);
      }
      assert.ok(rows.length > 0);
      assert.deepEqual(failures, []);
    });
  }
});

describe("InboundPacketStream accepts every recorded client→server stream", () => {
  for (const { name, fixture } of fixtures) {
    const streams = Object.entries(fixture.raw).flatMap(([label, sessions]) =>
      sessions.map((session, i) => ({ label: `${label}#${i}`, session })),
    );
    test(name, () => {
      for (const { label, session } of streams) {
        const stream = new InboundPacketStream(MAX_ATTACHMENTS);
        for (const [index, packet] of session.c2s.entries()) {
          const message = typeof packet === "string" ? socketIoPacket(packet) : Buffer.alloc(packet.binary);
          if (message === undefined) continue; // Engine.IO control packets never reach the stream
          const verdict = stream.accept(message);
          assert.ok(verdict.ok, `${label} message ${index} refused: ${verdict.ok ? "" : `${verdict.code} ${verdict.detail}`}`);
        }
        assert.equal(stream.awaitingAttachments, false, `${label} ended inside a binary packet`);
      }
    });
  }
});

/** Malformed client input: what the validator must say, and what socket.io-parser (the server) does with it. */
interface MalformedRow {
  readonly why: string;
  readonly messages: readonly (string | Buffer)[];
  readonly code: ErrorCode;
  /** The server's parser throws on the last message too; false marks where the gateway is stricter. */
  readonly referenceRejects: boolean;
}

const placeholder = '{"_placeholder":true,"num":0}';
const MALFORMED: readonly MalformedRow[] = [
  {
    why: "empty message (socket.io-parser reads it as CONNECT /)",
    messages: [""],
    code: "SWY_ERR_PROTOCOL_MALFORMED",
    referenceRejects: false,
  },
  { why: "unknown packet type", messages: ["7"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "non-digit type", messages: ["x"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "reserved event name", messages: ['2["connect"]'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  {
    why: "reserved event name (disconnecting)",
    messages: ['2["disconnecting"]'],
    code: "SWY_ERR_PROTOCOL_MALFORMED",
    referenceRejects: true,
  },
  { why: "event payload is not an array", messages: ['2{"a":1}'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "event without a name", messages: ["2[]"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "event name is an object", messages: ['2[{"a":1}]'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "truncated JSON", messages: ['2["ev"'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "CONNECT payload is an array", messages: ["0[1]"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "DISCONNECT with a payload", messages: ["1{}"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "ACK payload is not an array", messages: ["3{}"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "namespace followed by garbage", messages: ["2/admin,x"], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "ack id followed by garbage", messages: ['21a["x"]'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  {
    why: "ack id beyond 2^53 (socket.io-parser accepts it, rounded)",
    messages: ['299999999999999999999["x"]'],
    code: "SWY_ERR_PROTOCOL_MALFORMED",
    referenceRejects: false,
  },
  {
    why: "binary event without an attachment count",
    messages: [`5-["a",${placeholder}]`],
    code: "SWY_ERR_PROTOCOL_MALFORMED",
    referenceRejects: true,
  },
  { why: "binary event announcing 0 attachments", messages: ['50-["a"]'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  { why: "non-digit attachment count", messages: ['5a-["a"]'], code: "SWY_ERR_PROTOCOL_MALFORMED", referenceRejects: true },
  {
    why: "attachment count without its dash",
    messages: [`51["a",${placeholder}]`],
    code: "SWY_ERR_PROTOCOL_MALFORMED",
    referenceRejects: true,
  },
  {
    why: "more attachments than allowed",
    messages: [`5${MAX_ATTACHMENTS + 1}-["a",${placeholder}]`],
    code: "SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS",
    referenceRejects: true,
  },
  {
    why: "binary ack announcing far too many",
    messages: [`6999-[${placeholder}]`],
    code: "SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS",
    referenceRejects: true,
  },
  {
    why: "a binary message nothing announced",
    messages: [Buffer.from([1, 2, 3])],
    code: "SWY_ERR_PROTOCOL_UNEXPECTED_BINARY",
    referenceRejects: true,
  },
  {
    why: "one attachment more than announced",
    messages: [`51-["a",${placeholder}]`, Buffer.from([1]), Buffer.from([2])],
    code: "SWY_ERR_PROTOCOL_UNEXPECTED_BINARY",
    referenceRejects: true,
  },
  {
    why: "a text packet while attachments are due",
    messages: [`52-["a",${placeholder},${placeholder}]`, Buffer.from([1]), '2["b"]'],
    code: "SWY_ERR_PROTOCOL_MALFORMED",
    referenceRejects: true,
  },
];

/** Feeds the messages to socket.io-parser; true if it throws on any of them. */
function referenceRejects(messages: readonly (string | Buffer)[]): boolean {
  const decoder = new referenceParser.Decoder();
  decoder.on("decoded", () => {});
  try {
    for (const message of messages) decoder.add(message);
    return false;
  } catch {
    return true;
  } finally {
    decoder.destroy();
  }
}

describe("malformed client packets are refused with the right code", () => {
  for (const row of MALFORMED) {
    test(row.why, () => {
      const stream = new InboundPacketStream(MAX_ATTACHMENTS);
      const verdicts = row.messages.map((message) => stream.accept(message));
      const last = verdicts.pop()!;
      assert.ok(
        verdicts.every((verdict) => verdict.ok),
        "the messages before the last one are valid",
      );
      assert.equal(last.ok, false);
      assert.equal(last.ok ? undefined : last.code, row.code);
      assert.equal(referenceRejects(row.messages), row.referenceRejects, "socket.io-parser's verdict changed: update the row");
      const text = row.messages.at(-1);
      if (typeof text === "string" && row.messages.length === 1)
        assert.throws(() => decodePacket(text, MAX_ATTACHMENTS), PacketDecodeError);
    });
  }
});
