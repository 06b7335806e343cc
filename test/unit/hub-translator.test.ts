import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GATEWAY_ACK_ID_BASE } from "../../src/protocol/hub-frames.js";
import {
  HubTranslator,
  queryObject,
  type RoomEvents,
  type TranslationOutput,
  type TranslationVerdict,
} from "../../src/protocol/hub-translator.js";
import type { SocketIoRevision } from "../../src/protocol/versions.js";

const SID = "ENGINEIDENGINEIDENGI";
const QUERY = { name: "alice" };

type Recorded = [keyof RoomEvents, ...unknown[]];

/**
 * A translator plus everything it wrote, for table tests. `recordRooms`: the output also takes the room
 * events (a translator without them, as for a hub session outside any room world, sends none).
 */
function harness(revision: SocketIoRevision, options: { sessionId?: string; query?: Record<string, string>; recordRooms?: boolean } = {}) {
  const toHub: (string | Buffer)[] = [];
  const toClient: (string | Buffer)[] = [];
  const rooms: Recorded[] = [];
  const out: TranslationOutput = { toHub: (f) => toHub.push(f), toClient: (m) => toClient.push(m) };
  if (options.recordRooms === true) {
    Object.assign(out, {
      socketOpened: (...args) => rooms.push(["socketOpened", ...args]),
      socketClosed: (...args) => rooms.push(["socketClosed", ...args]),
      joinRooms: (...args) => rooms.push(["joinRooms", ...args]),
      leaveRooms: (...args) => rooms.push(["leaveRooms", ...args]),
      broadcast: (...args) => rooms.push(["broadcast", ...args]),
      gatewayAck: (...args) => rooms.push(["gatewayAck", ...args]),
    } satisfies RoomEvents);
  }
  const translator = new HubTranslator({
    revision,
    sessionId: options.sessionId ?? SID,
    query: options.query ?? QUERY,
    maxAttachments: 10,
  });
  return {
    translator,
    out,
    toHub,
    toClient,
    rooms,
    start: () => translator.start(out),
    client: (message: string | Buffer) => translator.fromClient(message, out),
    hub: (frame: object | string | Buffer) =>
      Buffer.isBuffer(frame)
        ? translator.fromHub(frame, true, out)
        : translator.fromHub(typeof frame === "string" ? frame : JSON.stringify(frame), false, out),
    /** Drains what was written since the last call. */
    take: () => ({ hub: toHub.splice(0), client: toClient.splice(0) }),
  };
}

type Harness = ReturnType<typeof harness>;

const OK = { ok: true, endSession: false };

function connected(revision: SocketIoRevision, nsp = "/", sid = revision === 4 ? SID : "HUBSID"): Harness {
  const h = harness(revision);
  h.start();
  if (revision === 5) assert.deepEqual(h.client(nsp === "/" ? "0" : `0${nsp},`), OK);
  else if (nsp !== "/") {
    assert.deepEqual(h.hub({ type: "connect", nsp: "/", sid: SID }), OK);
    assert.deepEqual(h.client(`0${nsp},`), OK);
  }
  assert.deepEqual(h.hub({ type: "connect", nsp, sid: revision === 4 && nsp !== "/" ? `${nsp}#${SID}` : sid }), OK);
  h.take();
  return h;
}

function assertFails(verdict: TranslationVerdict, code: string, detail?: RegExp): void {
  assert.equal(verdict.ok, false, "expected a failure");
  if (verdict.ok) return;
  assert.equal(verdict.code, code);
  if (detail) assert.match(verdict.detail, detail);
}

describe("HubTranslator, client → hub", () => {
  const cases: [SocketIoRevision, string, (string | Buffer)[], unknown[]][] = [
    [5, "CONNECT / without auth", ["0"], [{ type: "connect", nsp: "/", auth: {}, query: QUERY }]],
    [
      5,
      "CONNECT /admin with auth",
      ['0/admin,{"role":"admin"}'],
      [{ type: "connect", nsp: "/admin", auth: { role: "admin" }, query: QUERY }],
    ],
    [
      4,
      "CONNECT /admin with a namespace query",
      ["0/admin?role=admin&x=1&x=2,"],
      [{ type: "connect", nsp: "/admin", auth: { role: "admin", x: "2" }, query: QUERY, sid: `/admin#${SID}` }],
    ],
    [4, "CONNECT /admin without query", ["0/admin,"], [{ type: "connect", nsp: "/admin", auth: {}, query: QUERY, sid: `/admin#${SID}` }]],
  ];
  for (const [revision, name, input, expected] of cases) {
    it(`v${revision}: ${name}`, () => {
      const h = harness(revision);
      h.start();
      h.take();
      for (const message of input) assert.deepEqual(h.client(message), OK);
      assert.deepEqual(
        h.take().hub.map((f) => JSON.parse(f as string)),
        expected,
      );
    });
  }

  for (const revision of [4, 5] as const) {
    it(`v${revision}: events, acks and binary attachments keep the client's ids and bytes`, () => {
      const h = connected(revision, "/admin");
      const bytes = Buffer.from([1, 2, 3]);
      assert.deepEqual(h.client('2/admin,7["echo",1]'), OK);
      assert.deepEqual(h.client('3/admin,4[{"ok":true}]'), OK);
      assert.deepEqual(h.client('51-/admin,8["upload",{"_placeholder":true,"num":0}]'), OK);
      assert.deepEqual(h.client(bytes), OK);
      assert.deepEqual(h.client('61-/admin,5[{"_placeholder":true,"num":0}]'), OK);
      assert.deepEqual(h.client(bytes), OK);
      assert.deepEqual(h.client("1/admin,"), OK);
      assert.deepEqual(h.take().hub, [
        '{"type":"event","nsp":"/admin","id":7,"data":["echo",1]}',
        '{"type":"ack","nsp":"/admin","id":4,"data":[{"ok":true}]}',
        '{"type":"event","nsp":"/admin","id":8,"attachments":1,"data":["upload",{"_placeholder":true,"num":0}]}',
        bytes,
        '{"type":"ack","nsp":"/admin","id":5,"attachments":1,"data":[{"_placeholder":true,"num":0}]}',
        bytes,
        '{"type":"disconnect","nsp":"/admin"}',
      ]);
    });
  }

  it("v4: 2.x clients get / connected unprompted, with the engine id as sid", () => {
    const h = harness(4);
    h.start();
    assert.deepEqual(
      h.take().hub.map((f) => JSON.parse(f as string)),
      [{ type: "connect", nsp: "/", auth: {}, query: QUERY, sid: SID }],
    );
    const v5 = harness(5);
    v5.start();
    assert.deepEqual(v5.take().hub, []);
  });

  it("v4: the namespace of any packet is read as a URL path, as socket.io does", () => {
    const h = connected(4, "/admin");
    assert.deepEqual(h.client('2/admin?x=1,["a"]'), OK);
    assert.deepEqual(h.take().hub, ['{"type":"event","nsp":"/admin","data":["a"]}']);
  });

  it("drops what socket.io ignores: an event without arguments, an ack without id (and its attachments)", () => {
    const h = connected(5);
    assert.deepEqual(h.client("2"), OK);
    assert.deepEqual(h.client('3[{"a":1}]'), OK);
    assert.deepEqual(h.client('61-[{"_placeholder":true,"num":0}]'), OK);
    assert.deepEqual(h.client(Buffer.from([9])), OK);
    assert.deepEqual(h.take().hub, []);
  });

  it("checks a binary packet's placeholders (socket.io drops the connection) and leaves look-alikes in other packets alone", () => {
    const h = connected(5);
    assertFails(h.client('51-["a",{"_placeholder":true,"num":1}]'), "SWY_ERR_PROTOCOL_MALFORMED", /placeholder/);
    const other = connected(5);
    assert.deepEqual(other.client('21["echo",{"_placeholder":true,"num":4}]'), OK);
    assert.deepEqual(other.take().hub, ['{"type":"event","nsp":"/","id":1,"data":["echo",{"_placeholder":true,"num":4}]}']);
    assert.deepEqual(other.hub({ type: "ack", nsp: "/", id: 1, data: [{ _placeholder: true, num: 4 }] }), OK, "the hub may echo it back");
    assert.deepEqual(other.take().client, ['31[{"_placeholder":true,"num":4}]']);
  });

  it("answers a CONNECT repeated before the hub answered once per CONNECT, asking the hub once", () => {
    const h = harness(5);
    assert.deepEqual(h.client("0/admin,"), OK);
    assert.deepEqual(h.client("0/admin,"), OK);
    assert.equal(h.take().hub.length, 1);
    assert.deepEqual(h.hub({ type: "connect_error", nsp: "/admin", data: { message: "no" } }), OK);
    assert.deepEqual(h.take().client, ['4/admin,{"message":"no"}', '4/admin,{"message":"no"}']);
  });

  const stateErrors: [SocketIoRevision, string, string][] = [
    [5, "an event for a namespace never joined", '2/admin,["a"]'],
    [5, "a DISCONNECT for a namespace never joined", "1/admin,"],
    [5, "a second CONNECT once connected", "0"],
    [5, "a CONNECT_ERROR from a client", "4{}"],
    [4, "an event for a namespace still connecting", '2/x,["a"]'],
  ];
  for (const [revision, name, message] of stateErrors) {
    it(`v${revision}: ends the session on ${name}`, () => {
      const h = connected(revision);
      if (name.includes("still connecting")) h.client("0/x,");
      assertFails(h.client(message), "SWY_ERR_PROTOCOL_INVALID_STATE");
    });
  }

  it("refuses binary nobody announced and text while attachments are due", () => {
    const h = connected(5);
    assertFails(h.client(Buffer.from([1])), "SWY_ERR_PROTOCOL_UNEXPECTED_BINARY");
    assert.deepEqual(h.client('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'), OK);
    assert.deepEqual(h.client(Buffer.from([1])), OK);
    assertFails(h.client('2["a"]'), "SWY_ERR_PROTOCOL_MALFORMED");
    assertFails(harness(5).client("9"), "SWY_ERR_PROTOCOL_MALFORMED");
    assertFails(harness(5).client('511-["a"]'), "SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS");
  });
});

describe("HubTranslator, hub → client", () => {
  const replies: [SocketIoRevision, string, object, string][] = [
    [5, "connect /", { type: "connect", nsp: "/", sid: "S1" }, '0{"sid":"S1"}'],
    [4, "connect /", { type: "connect", nsp: "/", sid: SID }, "0"],
    [
      5,
      "refusal with data",
      { type: "connect_error", nsp: "/", data: { message: "not authorized", data: { code: "E_AUTH" } } },
      '4{"message":"not authorized","data":{"code":"E_AUTH"}}',
    ],
    [
      4,
      "refusal with data",
      { type: "connect_error", nsp: "/", data: { message: "not authorized", data: { code: "E_AUTH" } } },
      '4{"code":"E_AUTH"}',
    ],
    [5, "refusal without data", { type: "connect_error", nsp: "/", data: { message: "nope" } }, '4{"message":"nope"}'],
    [4, "refusal without data", { type: "connect_error", nsp: "/", data: { message: "nope" } }, '4"nope"'],
    [4, "refusal with falsy data", { type: "connect_error", nsp: "/", data: { message: "nope", data: 0 } }, '4"nope"'],
    [
      5,
      "refusal with null data",
      { type: "connect_error", nsp: "/", data: { message: "nope", data: null } },
      '4{"message":"nope","data":null}',
    ],
    [
      5,
      "unknown namespace",
      { type: "connect_error", nsp: "/", code: "invalid_namespace", data: { message: "ignored" } },
      '4{"message":"Invalid namespace"}',
    ],
    [4, "unknown namespace", { type: "connect_error", nsp: "/", code: "invalid_namespace" }, '4{"message":"Invalid namespace"}'],
  ];
  for (const [revision, name, frame, expected] of replies) {
    it(`v${revision}: ${name}`, () => {
      const h = harness(revision);
      h.start();
      if (revision === 5) h.client("0");
      h.take();
      assert.deepEqual(h.hub(frame), OK);
      assert.deepEqual(h.take().client, [expected]);
    });
  }

  it("v5: relays the sid the hub chose for a namespace", () => {
    const h = harness(5);
    h.client('0/admin,{"role":"admin"}');
    assert.deepEqual(h.hub({ type: "connect", nsp: "/admin", sid: "ADMINSID" }), OK);
    assert.deepEqual(h.take().client, ['0/admin,{"sid":"ADMINSID"}']);
  });

  it("v4: a hub that does not adopt the derived sid breaks the protocol", () => {
    const h = harness(4);
    h.start();
    assertFails(h.hub({ type: "connect", nsp: "/", sid: "OTHER" }), "SWY_ERR_UPSTREAM_PROTOCOL", /instead of/);
    const admin = connected(4);
    admin.client("0/admin,");
    assertFails(admin.hub({ type: "connect", nsp: "/admin", sid: SID }), "SWY_ERR_UPSTREAM_PROTOCOL");
  });

  for (const revision of [4, 5] as const) {
    it(`v${revision}: events and acks with ids and binary attachments`, () => {
      const h = connected(revision, "/admin");
      const bytes = Buffer.from([7, 8]);
      assert.deepEqual(h.hub({ type: "event", nsp: "/admin", data: ["question", "why?"], id: 0 }), OK);
      assert.deepEqual(h.hub({ type: "ack", nsp: "/admin", data: [{ ok: true }], id: 12 }), OK);
      assert.deepEqual(
        h.hub({ type: "event", nsp: "/admin", data: ["uploaded", { size: 2 }, { _placeholder: true, num: 0 }], attachments: 1 }),
        OK,
      );
      assert.deepEqual(h.hub(bytes), OK);
      assert.deepEqual(h.hub({ type: "ack", nsp: "/admin", id: 3, data: [{ _placeholder: true, num: 0 }], attachments: 1 }), OK);
      assert.deepEqual(h.hub(bytes), OK);
      assert.deepEqual(h.take().client, [
        '2/admin,0["question","why?"]',
        '3/admin,12[{"ok":true}]',
        '51-/admin,["uploaded",{"size":2},{"_placeholder":true,"num":0}]',
        bytes,
        '61-/admin,3[{"_placeholder":true,"num":0}]',
        bytes,
      ]);
    });
  }

  it("disconnects one namespace, or every connected one in connection order and ends the session", () => {
    const h = connected(5);
    h.client("0/b,");
    h.client("0/a,");
    h.client("0/pending,");
    h.hub({ type: "connect", nsp: "/a", sid: "A" });
    h.hub({ type: "connect", nsp: "/b", sid: "B" });
    h.take();
    assert.deepEqual(h.hub({ type: "disconnect", nsp: "/a" }), OK);
    assert.deepEqual(h.hub({ type: "disconnect", nsp: "/a" }), OK, "a stale disconnect is ignored");
    assert.deepEqual(h.take().client, ["1/a,"]);
    h.client("0/a,");
    h.hub({ type: "connect", nsp: "/a", sid: "A2" });
    h.take();
    assert.deepEqual(h.hub({ type: "disconnect", nsp: "/b", close: true }), { ok: true, endSession: true });
    assert.deepEqual(h.take().client, ["1", "1/b,", "1/a,"]);
  });

  it("drops frames (and their attachments) for a namespace that is gone; skips unknown frames", () => {
    const h = connected(5);
    assert.deepEqual(h.hub({ type: "event", nsp: "/gone", data: ["x", { _placeholder: true, num: 0 }], attachments: 1 }), OK);
    assert.deepEqual(h.hub(Buffer.from([1])), OK);
    assert.deepEqual(h.hub({ type: "presence", attachments: 1, whatever: true }), OK);
    assert.deepEqual(h.hub(Buffer.from([2])), OK);
    assert.deepEqual(h.hub({ type: "event", nsp: "/", data: ["still"], unknownField: 1 }), OK);
    assert.deepEqual(h.take().client, ['2["still"]']);
  });

  const hubErrors: [string, (h: Harness) => TranslationVerdict][] = [
    ["an unsolicited connect", (h) => h.hub({ type: "connect", nsp: "/other", sid: "x" })],
    ["an unsolicited connect_error", (h) => h.hub({ type: "connect_error", nsp: "/", data: { message: "x" } })],
    ["a binary frame nobody announced", (h) => h.hub(Buffer.from([1]))],
    [
      "text while attachments are due",
      (h) => {
        h.hub({ type: "event", nsp: "/", data: ["a", { _placeholder: true, num: 0 }], attachments: 1 });
        return h.hub({ type: "event", nsp: "/", data: ["b"] });
      },
    ],
    ["a second hello", (h) => h.hub({ type: "hello", version: 1 })],
    [
      "a disconnect before the connect answer",
      (h) => {
        h.client("0/p,");
        return h.hub({ type: "disconnect", nsp: "/p" });
      },
    ],
    ["invalid JSON", (h) => h.hub("{nope")],
  ];
  for (const [name, act] of hubErrors) {
    it(`treats ${name} as a hub protocol error`, () => assertFails(act(connected(5)), "SWY_ERR_UPSTREAM_PROTOCOL"));
  }

  it("passes events for a namespace still connecting (socket.io clients buffer them)", () => {
    const h = harness(5);
    h.client("0/x,");
    assert.deepEqual(h.hub({ type: "event", nsp: "/x", data: ["early"] }), OK);
    assert.deepEqual(h.take().client, ['2/x,["early"]']);
    assert.equal(h.translator.joinedAnyNamespace, false);
    h.hub({ type: "connect", nsp: "/x", sid: "X" });
    assert.equal(h.translator.joinedAnyNamespace, true);
    assert.equal(h.translator.namespaceState("/x"), "connected");
  });
});

describe("queryObject", () => {
  it("folds the query like engine.io (last value wins, __proto__ stays a key)", () => {
    const query = queryObject([
      ["a", "1"],
      ["a", "2"],
      ["__proto__", "x"],
    ]);
    assert.equal(JSON.stringify(query), '{"a":"2","__proto__":"x"}');
  });
});

/** A started translator (its own session id, no query) whose room events are recorded and drained with the rest. */
function roomsHarness(revision: SocketIoRevision) {
  const h = harness(revision, { sessionId: "ENGINEID", query: {}, recordRooms: true });
  h.start();
  return { ...h, take: () => ({ ...h.take(), rooms: h.rooms.splice(0) }) };
}

describe("HubTranslator, rooms", () => {
  it("v5: the socket exists once the hub accepts (with its auth), before the client's CONNECT; join/leave follow", () => {
    const h = roomsHarness(5);
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
    const h = roomsHarness(4);
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
    const h = roomsHarness(5);
    assert.deepEqual(h.hub({ type: "broadcast", nsp: "/x", rooms: ["r"], except: ["s"], data: ["m", 1] }), OK);
    assert.deepEqual(h.take(), { hub: [], client: [], rooms: [["broadcast", "/x", ["r"], ["s"], ["m", 1]]] });
  });

  it("binary broadcasts: the announced frames are collected and the placeholders resolved", () => {
    const h = roomsHarness(5);
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
    const h = roomsHarness(5);
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
    const h = roomsHarness(5);
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
