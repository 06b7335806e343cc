import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { eventOf, PacketReader, type PacketReadResult, type SocketIoPacket } from "../../src/shadow/packet-reader.js";

function packetOf(result: PacketReadResult): SocketIoPacket {
  assert.ok(result.ok, `expected a packet, got ${JSON.stringify(result)}`);
  assert.ok(result.packet !== undefined, "expected a complete packet");
  return result.packet;
}

function readAll(reader: PacketReader, messages: (string | Buffer)[]): PacketReadResult[] {
  return messages.map((message) => reader.read(message));
}

describe("shadow packet reader: text packets", () => {
  const table: [string, { type: number; nsp: string; id?: number; data?: unknown }][] = [
    ['2["msg",{"text":"hi"}]', { type: 2, nsp: "/", data: ["msg", { text: "hi" }] }],
    ['2/chat,["msg",1]', { type: 2, nsp: "/chat", data: ["msg", 1] }],
    ['2/chat,7["ask"]', { type: 2, nsp: "/chat", id: 7, data: ["ask"] }],
    ['3/admin,12["ok",{"n":1}]', { type: 3, nsp: "/admin", id: 12, data: ["ok", { n: 1 }] }],
    ["0", { type: 0, nsp: "/" }],
    ['0{"sid":"abc"}', { type: 0, nsp: "/", data: { sid: "abc" } }],
    // 2.x clients put their query into the namespace: the reader strips it.
    ["0/admin?token=x&y=1,", { type: 0, nsp: "/admin" }],
    ['2/admin?token=x,["msg"]', { type: 2, nsp: "/admin", data: ["msg"] }],
    ['4/admin,{"message":"not authorized"}', { type: 4, nsp: "/admin", data: { message: "not authorized" } }],
    ["1/chat,", { type: 1, nsp: "/chat" }],
  ];
  for (const [wire, expected] of table) {
    it(`reads ${wire}`, () => {
      const packet = packetOf(new PacketReader().read(wire));
      assert.equal(packet.type, expected.type);
      assert.equal(packet.nsp, expected.nsp);
      assert.equal(packet.id, expected.id);
      assert.deepEqual(packet.data, expected.data);
    });
  }

  it("gives event names and arguments, numeric names as strings", () => {
    assert.deepEqual(eventOf(packetOf(new PacketReader().read('2["msg",1,2]'))), { name: "msg", args: [1, 2] });
    assert.deepEqual(eventOf(packetOf(new PacketReader().read("2[42,true]"))), { name: "42", args: [true] });
    assert.equal(eventOf(packetOf(new PacketReader().read("3[1]"))), undefined);
  });
});

describe("shadow packet reader: binary reassembly", () => {
  it("substitutes one attachment", () => {
    const reader = new PacketReader();
    const [header, body] = readAll(reader, ['51-["up",{"_placeholder":true,"num":0}]', Buffer.from([1, 2, 3])]);
    assert.deepEqual(header, { ok: true, packet: undefined });
    const packet = packetOf(body as PacketReadResult);
    assert.equal(packet.type, 5);
    assert.deepEqual(packet.data, ["up", Buffer.from([1, 2, 3])]);
    assert.ok(Buffer.isBuffer((packet.data as unknown[])[1]));
  });

  it("substitutes nested attachments in order, for a binary ack in a namespace", () => {
    const reader = new PacketReader();
    const results = readAll(reader, [
      '62-/files,9[{"name":"a","parts":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]}]',
      Buffer.from("first"),
      Buffer.from("second"),
    ]);
    assert.deepEqual(results.slice(0, 2), [
      { ok: true, packet: undefined },
      { ok: true, packet: undefined },
    ]);
    const packet = packetOf(results[2] as PacketReadResult);
    assert.equal(packet.type, 6);
    assert.equal(packet.nsp, "/files");
    assert.equal(packet.id, 9);
    assert.deepEqual(packet.data, [{ name: "a", parts: [Buffer.from("second"), Buffer.from("first")] }]);
    assert.equal(reader.heldBytes, 0);
  });

  it("keeps a __proto__ key an own property when it holds an attachment", () => {
    const reader = new PacketReader();
    const [, body] = readAll(reader, ['51-["up",{"__proto__":{"_placeholder":true,"num":0}}]', Buffer.from("x")]);
    const arg = (packetOf(body as PacketReadResult).data as unknown[])[1] as Record<string, unknown>;
    assert.deepEqual(Object.keys(arg), ["__proto__"]);
    assert.equal(Object.getPrototypeOf(arg), Object.prototype);
  });

  it("accepts plain Uint8Array attachments", () => {
    const reader = new PacketReader();
    const [, body] = readAll(reader, ['51-["up",{"_placeholder":true,"num":0}]', new Uint8Array([9, 8]) as Buffer]);
    assert.deepEqual((packetOf(body as PacketReadResult).data as unknown[])[1], Buffer.from([9, 8]));
  });
});

describe("shadow packet reader: garbage yields coded failures, never exceptions", () => {
  const deep = `2["msg",${"[".repeat(150)}${"]".repeat(150)}]`;
  const table: [string, (string | Buffer)[], string, { maxAttachments?: number; maxAttachmentBytes?: number }?][] = [
    ["an empty message", [""], "malformed packet"],
    ["an unknown type", ["9hello"], "malformed packet"],
    ["broken JSON", ['2["msg",'], "malformed packet"],
    ["an event whose payload is an object", ['2{"a":1}'], "malformed packet"],
    ["an event without arguments", ["2"], "malformed packet"],
    ["an ack without arguments", ["3/chat,4"], "malformed packet"],
    ["a reserved event name", ['2["connect"]'], "malformed packet"],
    ["a binary frame nobody announced", [Buffer.from("x")], "unexpected binary"],
    [
      "text while attachments are expected",
      ['52-["up",{"_placeholder":true,"num":0}]', Buffer.from("a"), '2["msg"]'],
      "missing attachments",
    ],
    ["too many attachments", ['511-["up"]'], "too many attachments", { maxAttachments: 10 }],
    [
      "attachments beyond the byte cap",
      ['52-["up",{"_placeholder":true,"num":0}]', Buffer.alloc(600), Buffer.alloc(600)],
      "attachments too large",
      { maxAttachmentBytes: 1000 },
    ],
    ["a placeholder out of range", ['51-["up",{"_placeholder":true,"num":1}]', Buffer.from("a")], "invalid placeholder"],
    ["a placeholder with a string index", ['51-["up",{"_placeholder":true,"num":"0"}]', Buffer.from("a")], "invalid placeholder"],
    ["nesting deeper than the limit", [deep], "too deep"],
  ];
  for (const [name, messages, reason, limits] of table) {
    it(`refuses ${name}`, () => {
      const reader = new PacketReader(limits);
      const results = readAll(reader, messages);
      const last = results[results.length - 1] as PacketReadResult;
      assert.ok(
        results.slice(0, -1).every((result) => result.ok),
        "only the last message fails",
      );
      assert.equal(last.ok, false);
      if (last.ok) return;
      assert.equal(last.code, "SWY_ERR_SHADOW");
      assert.equal(last.reason, reason);
      assert.equal(typeof last.detail, "string");
      // The reader starts afresh after a failure.
      assert.equal(reader.heldBytes, 0);
      assert.deepEqual(packetOf(reader.read('2["msg","after"]')).data, ["msg", "after"]);
    });
  }

  it("reads deep data that stays within the limit", () => {
    const data = `2["msg",${"[".repeat(90)}1${"]".repeat(90)}]`;
    assert.ok(new PacketReader().read(data).ok);
    assert.equal(new PacketReader({ maxDepth: 50 }).read(data).ok, false);
  });

  it("survives random bytes and strings", () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const reader = new PacketReader();
    const alphabet = '0123456789[]{}",:/-_placeholdernum#?truefalsenull ';
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random() * 40);
      const message =
        random() < 0.2
          ? Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)))
          : Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
      const result = reader.read(message);
      assert.equal(typeof result.ok, "boolean");
    }
  });
});
