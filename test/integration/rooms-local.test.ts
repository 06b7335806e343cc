/**
 * Rooms and fan-out at the gateway without Redis (docs/hub-protocol.md §2.6): a hub that only sends
 * join/leave/broadcast frames, a real gateway with every session on the hub, real 2.x/3.x/4.x clients on
 * polling and WebSocket. Every member gets every broadcast exactly once, in per-sender order; `except`,
 * binary, namespaces, leave, and order with the session's own frames. It runs with HUB_PROTOCOL=v1 (a WebSocket
 * per session) and with the default, auto (the hub selects switchyard-hub.v2: every session over the links).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { once } from "node:events";
import type { Socket } from "node:net";
import WebSocket from "ws";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { subscribe, type SessionClosedEvent } from "../../src/telemetry/events.js";
import { waitFor } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { countFrameWrites } from "../helpers/frame-writes.js";
import { expectEveryMessage, Member, MEMBER_KINDS } from "../helpers/room-members.js";
import { startRoomsHub, type RoomsHub } from "../helpers/rooms-hub.js";
import { gatewayEnv } from "../helpers/stack.js";

const MIB = 1024 * 1024;

/** The seq of a raw Engine.IO packet that is a `said` broadcast from `from`, else undefined. */
function saidSeq(packet: string, from: string): number | undefined {
  if (!packet.startsWith('42["said"')) return undefined;
  const body = (JSON.parse(packet.slice(2)) as [string, { from: string; seq: number }])[1];
  return body.from === from ? body.seq : undefined;
}

for (const protocol of ["v1", "auto"] as const)
  describe(`rooms at the gateway (no bridge), HUB_PROTOCOL=${protocol}`, () => {
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
      const config = loadStaticConfig(
        gatewayEnv({
          LEGACY_MODE: "terminate",
          ROUTING_CONFIG: JSON.stringify({ hubPercent: 100 }),
          // The slow-recipient test fills it quickly; nothing else comes near it.
          CLIENT_BUFFER_LIMIT_BYTES: String(MIB),
          HUB_PROTOCOL: protocol,
        }),
      );
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
      // The encode-once path: a pre-built frame written straight to the client's socket, or by engine.io with
      // ws's Sender#sendFrame (a client with something waiting); count both.
      const frames = countFrameWrites();
      try {
        for (let seq = 1; seq <= count; seq++) for (const member of group) member.socket.emit("say", room, { seq });
        await expectEveryMessage(
          group,
          group.map((m) => m.id),
          count,
        );
      } finally {
        frames.restore();
      }
      const websocketMembers = group.filter((m) => m.transport === "websocket").length;
      const written = frames.direct + frames.viaEngine;
      assert.ok(written >= websocketMembers * count * group.length, `only ${written} pre-encoded frames were written`);
      assert.ok(frames.direct > 0, "no broadcast frame was written straight to a client");
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
      // The path the sessions took: v1, a WebSocket each; auto against this v2 hub, at most HUB_LINKS (2) links for all.
      if (protocol === "v1") assert.deepEqual([hub.connectionCount, hub.linkCount], [hub.sessionCount(), 0]);
      else assert.ok(hub.linkCount === hub.connectionCount && hub.linkCount <= 2, `${hub.connectionCount} sockets, ${hub.linkCount} links`);
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

    it("keeps each client's order when broadcasts (text and binary), its own events and acks interleave", async () => {
      const kinds: (typeof MEMBER_KINDS)[number][] = [...MEMBER_KINDS, ["2", "upgrade"], ["4", "upgrade"]];
      const group = await Promise.all(kinds.map((kind) => join(kind, "interleave")));
      const count = 15;
      const logs = group.map((member) => {
        const log: string[] = [];
        member.socket.on("said", (body: { from: string; seq: number; tell?: boolean }) => {
          if (body.from === member.id) log.push(`${body.tell ? "tell-said" : "said"} ${body.seq}`);
        });
        member.socket.on("bin", (meta: { from: string; seq: number }) => {
          if (meta.from === member.id) log.push(`bin ${meta.seq}`);
        });
        member.socket.on("told", (body: { seq: number }) => log.push(`told ${body.seq}`));
        return log;
      });
      const frames = countFrameWrites();
      try {
        for (let seq = 1; seq <= count; seq++)
          group.forEach((member, i) => {
            member.socket.emit("say", "interleave", { seq });
            member.socket.emit("say-bin", "interleave", { seq }, Buffer.from([seq]));
            member.socket.emit("tell", { seq, tell: true });
            member.socket.emit("echo", seq, (echoed: number) => logs[i]!.push(`ack ${echoed}`));
          });
        const others = (member: Member) => group.filter((m) => m !== member);
        await eventually(
          () =>
            logs.every((log) => log.length === 5 * count) &&
            group.every((m) => others(m).every((s) => m.seqsFrom(s.id).length === count && m.bins.length === group.length * count)),
          "every member's own messages and acks, and the others' broadcasts",
        );
      } finally {
        frames.restore();
      }
      const expected = Array.from({ length: count }, (_, i) => [
        `said ${i + 1}`,
        `bin ${i + 1}`,
        `told ${i + 1}`,
        `tell-said ${i + 1}`,
        `ack ${i + 1}`,
      ]);
      for (const [i, member] of group.entries())
        assert.deepEqual(logs[i], expected.flat(), `${member.label} got its messages out of order`);
      // Every member got every other member's broadcasts once, in order.
      for (const member of group)
        for (const sender of group.filter((m) => m !== member)) {
          assert.deepEqual(
            member.seqsFrom(sender.id),
            Array.from({ length: count }, (_, i) => i + 1),
            `${member.label} from ${sender.label}`,
          );
          assert.deepEqual(
            member.bins.filter((b) => b.meta.from === sender.id).map((b) => [b.meta.seq, b.bytes[0]]),
            Array.from({ length: count }, (_, i) => [i + 1, i + 1]),
          );
        }
      assert.ok(frames.direct > 0, "no broadcast frame was written straight to a client");
    });

    it("a client mid-upgrade gets every broadcast once, in order: over polling during the upgrade, then WebSocket", async () => {
      const sender = await join(["4", "websocket"], "upgrading");
      const base = `${gateway.url}/socket.io/?EIO=4`;
      const { sid } = JSON.parse((await (await fetch(`${base}&transport=polling`)).text()).slice(1)) as { sid: string };
      const pollUrl = `${base}&transport=polling&sid=${sid}`;
      const polled: string[] = [];
      const poll = async () => polled.push(...(await (await fetch(pollUrl)).text()).split("\x1e"));
      const post = async (body: string) => assert.equal(await (await fetch(pollUrl, { method: "POST", body })).text(), "ok");
      await post("40");
      while (!polled.some((p) => p.startsWith("40"))) await poll();
      await post('421["join","upgrading"]');
      while (!polled.some((p) => p.startsWith("431"))) await poll();
      // The probe is answered: the session is upgrading (engine.io's `upgrading`) until the upgrade packet.
      const ws = new WebSocket(`${base.replace("http", "ws")}&transport=websocket&sid=${sid}`);
      const received: string[] = [];
      ws.on("message", (data) => received.push(data.toString()));
      await once(ws, "open");
      ws.send("2probe");
      await eventually(() => received.includes("3probe"), "the probe's answer");
      const fromSender = (packets: string[]) => packets.map((p) => saidSeq(p, sender.id)).filter((seq) => seq !== undefined);
      for (let seq = 1; seq <= 5; seq++) sender.socket.emit("say", "upgrading", { seq });
      while (fromSender(polled).length < 5) await poll();
      ws.send("5");
      for (let seq = 6; seq <= 10; seq++) sender.socket.emit("say", "upgrading", { seq });
      await eventually(() => fromSender(received).length === 5, "the broadcasts after the upgrade, over WebSocket");
      assert.deepEqual([...fromSender(polled), ...fromSender(received)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      ws.close();
    });

    it("a recipient that stops reading holds up nobody and is closed with SWY_ERR_CLIENT_TOO_SLOW", async () => {
      const closed: SessionClosedEvent[] = [];
      const stop = subscribe("switchyard:session:closed", (e) => closed.push(e));
      try {
        const [sender, reader, stalled] = await Promise.all([
          join(["4", "websocket"], "slow"),
          join(["2", "websocket"], "slow"),
          join(["4", "websocket"], "slow"),
        ]);
        const stalledSession = stalled!.socket.io.engine.id;
        const transport = stalled!.socket.io.engine.transport as unknown as { ws: { _socket: Socket } };
        transport.ws._socket.pause();
        const text = "x".repeat(64 * 1024);
        const count = 300; // ~19 MiB: more than loopback's socket buffers plus CLIENT_BUFFER_LIMIT_BYTES (1 MiB)
        // In batches that the reader takes in (it shares this process's event loop with the gateway and the hub).
        for (let seq = 1; seq <= count; seq++) {
          sender!.socket.emit("say", "slow", { seq, text });
          if (seq % 10 === 0) await eventually(() => reader!.seqsFrom(sender!.id).length === seq, `the reader to get ${seq}`);
        }
        await expectEveryMessage([sender!, reader!], [sender!.id], count);
        await eventually(() => closed.some((e) => e.sessionId === stalledSession), "the stalled session to close");
        const slow = closed.filter((e) => e.code === "SWY_ERR_CLIENT_TOO_SLOW");
        assert.deepEqual(
          slow.map((e) => [e.sessionId, e.reason]),
          [[stalledSession, "error"]],
        );
        const metrics = await gateway.metrics.render();
        assert.match(metrics, /switchyard_limit_hits_total\{limit="client_buffer"[^}]*\} [1-9]/);
      } finally {
        stop();
      }
    });
  });
