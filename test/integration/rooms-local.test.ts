/**
 * Rooms and fan-out at the gateway without Redis (docs/hub-protocol.md §2.6): a hub that only sends
 * join/leave/broadcast frames, a real gateway with every session on the hub, real 2.x/3.x/4.x clients on
 * polling and WebSocket. Every member gets every broadcast exactly once, in per-sender order; `except`,
 * binary, namespaces, leave, and order with the session's own frames.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { waitFor } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { expectEveryMessage, Member, MEMBER_KINDS } from "../helpers/room-members.js";
import { startRoomsHub, type RoomsHub } from "../helpers/rooms-hub.js";
import { gatewayEnv } from "../helpers/stack.js";

describe("rooms at the gateway (no bridge)", () => {
  let legacy: LegacyChat;
  let hub: RoomsHub;
  let gateway: Switchyard;
  const members: Member[] = [];
  const join = async (kind: (typeof MEMBER_KINDS)[number], room: string, nsp = "/") => {
    const member = await Member.connect(gateway.url, kind[0], kind[1], nsp);
    members.push(member);
    await member.join(room);
    return member;
  };

  before(async () => {
    legacy = await startLegacyChat();
    hub = await startRoomsHub();
    const config = loadStaticConfig(gatewayEnv({ LEGACY_MODE: "terminate", ROUTING_CONFIG: JSON.stringify({ hubPercent: 100 }) }));
    gateway = await startSwitchyard({ config, legacyUrl: legacy.url, hubUrl: hub.url });
  });

  after(async () => {
    for (const member of members) member.close();
    await gateway.close();
    await hub.close();
    await legacy.close();
  });

  it("delivers every broadcast exactly once, in per-sender order, to every client generation and transport", async () => {
    const room = "all-kinds";
    const group = await Promise.all(MEMBER_KINDS.map((kind) => join(kind, room)));
    const outsider = await join(["4", "websocket"], "elsewhere");
    const count = 20;
    // engine.io writes a pre-built frame with ws's Sender#sendFrame (the encode-once path); count its uses.
    const proto = (WebSocket as unknown as { Sender: { prototype: unknown } }).Sender.prototype as {
      sendFrame: (...args: unknown[]) => unknown;
    };
    const original = proto.sendFrame;
    let preEncoded = 0;
    proto.sendFrame = function (this: unknown, ...args: unknown[]) {
      preEncoded++;
      return original.apply(this, args);
    };
    try {
      for (let seq = 1; seq <= count; seq++) for (const member of group) member.socket.emit("say", room, { seq });
      await expectEveryMessage(
        group,
        group.map((m) => m.id),
        count,
      );
    } finally {
      proto.sendFrame = original;
    }
    const websocketMembers = group.filter((m) => m.transport === "websocket").length;
    assert.ok(preEncoded >= websocketMembers * count * group.length, `only ${preEncoded} pre-encoded frames were written`);
    // Counted once per broadcast, per recipient in bulk: deliveries, broadcasts by source, and hub packets.
    const metrics = await gateway.metrics.render();
    const value = (series: string) =>
      Number(
        metrics
          .split("\n")
          .find((line) => line.startsWith(series))
          ?.split(" ")
          .at(-1),
      );
    assert.ok(value('switchyard_room_deliveries_total{world="primary"') >= group.length * group.length * count);
    assert.ok(value('switchyard_room_broadcasts_total{world="primary",source="hub"') >= group.length * count);
    assert.ok(value('switchyard_packets_total{backend="hub",direction="server_to_client"') >= group.length * group.length * count);
    assert.equal(outsider.said.length, 0, "a socket outside the room got a broadcast");
    assert.equal(gateway.rooms.primary.socketCount >= group.length + 1, true);
  });

  it("except: socket.broadcast semantics and except rooms", async () => {
    const [a, b, c] = await Promise.all([join(["2", "websocket"], "ex"), join(["3", "polling"], "ex"), join(["4", "websocket"], "ex")]);
    await c!.join("muted");
    a!.socket.emit("say-others", "ex", { seq: 1 });
    a!.socket.emit("say-except-room", "ex", "muted", { seq: 2 });
    a!.socket.emit("say", "ex", { seq: 3 });
    await eventually(() => c!.seqsFrom(a!.id).includes(3) && b!.seqsFrom(a!.id).includes(3), "the last broadcast");
    assert.deepEqual(a!.seqsFrom(a!.id), [2, 3], "the sender was not excepted from socket.broadcast");
    assert.deepEqual(b!.seqsFrom(a!.id), [1, 2, 3]);
    assert.deepEqual(c!.seqsFrom(a!.id), [1, 3], "a member of the except room got the broadcast");
  });

  it("binary broadcasts reach every generation and transport with the same bytes", async () => {
    const group = await Promise.all(MEMBER_KINDS.map((kind) => join(kind, "bin")));
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    group[1]!.socket.emit("say-bin", "bin", { seq: 1 }, bytes);
    await eventually(() => group.every((m) => m.bins.length === 1), "every member to get the binary broadcast");
    for (const member of group) {
      assert.deepEqual(member.bins[0]!.bytes, bytes, `${member.label} got other bytes`);
      assert.equal(member.bins[0]!.meta.seq, 1);
    }
  });

  it("keeps namespaces apart and stops delivering after leave or disconnect", async () => {
    const root = await join(["4", "websocket"], "shared");
    const other = await join(["4", "websocket"], "shared", "/other");
    const leaver = await join(["3", "websocket"], "shared");
    const gone = await join(["2", "polling"], "shared");
    await leaver.leave("shared");
    gone.close();
    await eventually(() => !gone.socket.connected, "the client to disconnect");
    root.socket.emit("say-all", { seq: 1 });
    root.socket.emit("say", "shared", { seq: 2 });
    other.socket.emit("say", "shared", { seq: 7 });
    await eventually(() => root.seqsFrom(root.id).length === 2 && other.seqsFrom(other.id).length === 1, "both namespaces' broadcasts");
    assert.deepEqual(other.seqsFrom(root.id), [], "a broadcast crossed namespaces");
    assert.deepEqual(root.seqsFrom(other.id), [], "a broadcast crossed namespaces");
    assert.deepEqual(leaver.seqsFrom(root.id), [1], "a socket that left the room still got its broadcast (or missed the namespace one)");
  });

  it("a broadcast reaches the client after the frames the hub sent before it on the same link", async () => {
    const member = await join(["2", "polling"], "order");
    const order: string[] = [];
    member.socket.on("told", () => order.push("told"));
    member.socket.on("said", () => order.push("said"));
    for (let i = 0; i < 10; i++) member.socket.emit("tell", { seq: i + 1 });
    await waitFor(member.socket, "said");
    await eventually(() => order.length === 20, "ten told/said pairs");
    assert.deepEqual(order, Array.from({ length: 10 }, () => ["told", "said"]).flat());
  });
});
